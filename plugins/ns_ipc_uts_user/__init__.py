"""Three small namespace plugins: ``ipc``, ``uts`` and ``user`` (one module each)."""
