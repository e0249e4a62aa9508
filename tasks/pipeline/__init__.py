"""The pipeline: catalog, planning, shards, the executor and its lanes, checkpoints, outputs, manifests."""
