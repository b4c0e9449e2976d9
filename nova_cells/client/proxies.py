"""Objects of a child cell as the API cell shows them (reference §5.1).

A :class:`ServiceProxy` or :class:`ComputeNodeProxy` wraps a ``Service`` or
``ComputeNode`` of some cell and reads its ``id`` and ``host`` as
``<cell path>@<value>`` (``api!child1@host3``), so that nova-api can hand
them back (``service_delete``, ``compute_node_get``, ...) and the message
finds its way to the right cell.

On the wire a proxy is the wrapped object's primitive plus two keys,
exactly nova's::

    {..., "cell_proxy.class_name": "ServiceProxy",
          "cell_proxy.cell_path": "api!child1"}

:class:`ProxyObjectSerializer` (nova's serializer of the cells RPC client)
turns such a primitive back into the proxy; any other object serializer
ignores the extra keys and gives the bare object.
"""

from nova_cells.objects import base as objects_base
from nova_cells import routing

__all__ = ['ServiceProxy', 'ComputeNodeProxy', 'ProxyObjectSerializer',
           'proxy_from_primitive']

_CLASS_KEY = 'cell_proxy.class_name'
_PATH_KEY = 'cell_proxy.cell_path'


class _CellProxy(object):
    """An object of a cell, whose ``id``/``host`` carry the cell path."""

    def __init__(self, obj, cell_path):
        self._obj = obj
        self._cell_path = cell_path

    @property
    def cell_path(self):
        return self._cell_path

    @property
    def id(self):
        return routing.cell_with_item(self._cell_path, self._obj.id)

    @property
    def host(self):
        return routing.cell_with_item(self._cell_path, self._obj.host)

    def __getitem__(self, key):
        if key in ('id', 'host'):
            return getattr(self, key)
        return getattr(self._obj, key)

    def __getattr__(self, key):
        return getattr(self.__getattribute__('_obj'), key)

    def obj_to_primitive(self, *args, **kwargs):
        primitive = self._obj.obj_to_primitive(*args, **kwargs)
        primitive[_CLASS_KEY] = type(self).__name__
        primitive[_PATH_KEY] = self._cell_path
        return primitive

    def __repr__(self):
        return '<%s %s id=%s>' % (type(self).__name__, self._cell_path,
                                  self.id)


class ComputeNodeProxy(_CellProxy):
    """A ComputeNode of a cell."""


class ServiceProxy(_CellProxy):
    """A Service of a cell; hides the nested ``compute_node`` as nova did
    (consumers of the proxy never use it)."""

    def __getattr__(self, key):
        if key == 'compute_node':
            raise AttributeError(key)
        return getattr(self.__getattribute__('_obj'), key)


_PROXY_CLASSES = {cls.__name__: cls
                  for cls in (ServiceProxy, ComputeNodeProxy)}


def _split(primitive):
    primitive = dict(primitive)
    return (primitive, primitive.pop(_CLASS_KEY, None),
            primitive.pop(_PATH_KEY, None))


def _wrap(obj, class_name, cell_path):
    cls = _PROXY_CLASSES.get(class_name)
    if cls is None or cell_path is None or obj is None:
        return obj
    return cls(obj, cell_path)


def proxy_from_primitive(primitive, context=None):
    """The proxy (or the bare object) a primitive describes."""
    primitive, class_name, cell_path = _split(primitive)
    obj = objects_base.NovaObject.obj_from_primitive(primitive, context)
    return _wrap(obj, class_name, cell_path)


class ProxyObjectSerializer(objects_base.NovaObjectSerializer):
    """nova's serializer of the cells RPC client: rebuilds cell proxies
    from primitives (other objects as usual)."""

    def __init__(self):
        objects_base.register_all()
        super(ProxyObjectSerializer, self).__init__()

    def _process_object(self, context, objprim):
        objprim, class_name, cell_path = _split(objprim)
        obj = super(ProxyObjectSerializer, self)._process_object(context,
                                                                 objprim)
        return _wrap(obj, class_name, cell_path)
