"""What the client areas share: sending a method as
:mod:`nova_cells.api_methods` declares it."""

from nova_cells import api_methods

__all__ = ['ClientBase']


class ClientBase(object):
    """Needs ``self.client``, an oslo.messaging RPC client."""

    def _cast(self, ctxt, name, /, version=None, **kwargs):
        """Cast ``name`` at its newest version, or at ``version``
        (:func:`nova_cells.api_methods.send`)."""
        api_methods.send(self.client, ctxt, name, kwargs, False, version)

    def _call(self, ctxt, name, /, version=None,
              timeout=api_methods.NO_TIMEOUT_GIVEN, **kwargs):
        """Call ``name``; its answer."""
        return api_methods.send(self.client, ctxt, name, kwargs, True,
                                version, timeout)

    def _newest(self, name):
        """The newest version of ``name`` this client may send."""
        return api_methods.newest_sendable(self.client, name)
