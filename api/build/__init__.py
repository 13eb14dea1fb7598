"""The build: ``orienter build`` (:mod:`api.build.pipeline`), its manifest, and the built
layers loaded back for the nearest-service answer (:mod:`api.build.layers`)."""
