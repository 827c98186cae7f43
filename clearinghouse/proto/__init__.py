"""Generated protobuf modules for the Livepeer wire messages (spec 03) and our own API.

`lp_rpc_pb2` is generated from protos/lp_rpc.proto by the package build (`pip install`, also
editable); it is a build output and never committed. Import it as
`from clearinghouse.proto import lp_rpc_pb2`.
"""
