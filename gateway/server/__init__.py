"""The gRPC edge: server factory, servicers, codecs and the error->status table."""
