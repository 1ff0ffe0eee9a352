"""The runtime: handler stack, primitives, recorded graph and the surrogate combiner."""
