"""Open Inference Protocol (KServe v2) gRPC tests."""
