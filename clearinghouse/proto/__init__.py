"""Generated protobuf modules for the Livepeer wire messages (spec 03) and our own API.

Generated from protos/*.proto by the package build (`pip install`, also editable); they are build
outputs and never committed:

- `lp_rpc_pb2` (+ `.pyi`): the Livepeer wire messages of protos/lp_rpc.proto, package `net`;
- `clearinghouse_pb2` (+ `.pyi`) and `clearinghouse_pb2_grpc`: the clearinghouse.v1 gRPC API of
  protos/clearinghouse.proto (messages, and the client stub `ClearinghouseStub`).

Import them as `from clearinghouse.proto import lp_rpc_pb2, clearinghouse_pb2`.
"""
