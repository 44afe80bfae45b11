"""The wire layer: varints, frames, zstd, and the varbincode interpreter the schemas run on."""
