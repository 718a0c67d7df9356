"""Code generated from proto/agentbus/v1 by python/scripts/gen_proto.py. Do not edit."""
