"""Wire codecs: galgate's domain objects to and from protobuf messages, both directions,
one module per message family, pure (no channel, no I/O). The servers and the CLI share
them, so what one side encodes the other decodes unchanged."""
