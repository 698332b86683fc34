"""The Dockerfile builder: ``nsrun build`` and the daemon's ``POST /build`` (see ``builder``)."""
