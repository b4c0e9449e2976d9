"""A flavor created where the cell reads its flavors: the cell's own
instance_types, or nova's API database (the Stein schema)."""

import pytest
import sqlalchemy as sa

from nova_cells.db import flavors
from nova_cells import exception
from tests import nova_stein


def test_a_flavor_in_the_cells_own_instance_types(db):
    reader = flavors.CellFlavors(db)
    reader.create(flavors.new_flavor('smoke.small', 2048, 1, 20))
    (flavor,) = reader.get_all()
    assert (flavor['name'], flavor['flavorid'], flavor['memory_mb'],
            flavor['vcpus'], flavor['root_gb'], flavor['swap'],
            bool(flavor['is_public'])) == ('smoke.small', 'smoke.small',
                                           2048, 1, 20, 0, True)
    with pytest.raises(exception.FlavorExists):
        reader.create(flavors.new_flavor('smoke.small', 512, 1, 1,
                                         flavorid='other'))
    with pytest.raises(exception.FlavorExists):
        reader.create(flavors.new_flavor('other', 512, 1, 1,
                                         flavorid='smoke.small'))
    assert len(reader.get_all()) == 1


def test_a_flavor_in_novas_api_database(tmp_path):
    url = 'sqlite:///%s' % (tmp_path / 'nova_api.db')
    nova_stein.create_database(url, which='api')
    reader = flavors.APIFlavors(url)
    try:
        reader.create(flavors.new_flavor('smoke.tiny', 512, 1, 1,
                                         flavorid='42'))
        (flavor,) = reader.get_all()
        assert (flavor['name'], flavor['flavorid'], flavor['memory_mb'],
                flavor['extra_specs']) == ('smoke.tiny', '42', 512, {})
        with pytest.raises(exception.FlavorExists):
            reader.create(flavors.new_flavor('smoke.tiny', 1, 1, 1))
    finally:
        reader.dispose()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        created = conn.execute(sa.text(
            'SELECT created_at FROM flavors')).scalar()
    engine.dispose()
    assert created is not None
