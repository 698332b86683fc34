"""Images: layer tars unpacked once into directories keyed by chain id, image records that stack them, and
(from the registry side) references, blobs and pulls. Nothing here is imported on the ``nsrun run`` start path
except ``store``'s lookups, which import nothing heavy."""
