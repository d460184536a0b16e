"""The galgate gRPC gateway: model pool, routing, servicers, monitor loops and the CLI."""
