"""Register every object class once for the object tests."""

import pytest

from nova_cells import objects
from nova_cells.objects import base


@pytest.fixture(scope='session', autouse=True)
def _registered_objects():
    objects.register_all()


@pytest.fixture
def serializer():
    return base.NovaObjectSerializer()
