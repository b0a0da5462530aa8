"""TBE DSL operator implementations (the custom OPP's op_impl). They import CANN's `tbe`, so they are
never imported as modules here: kernels/ascend/tbe_numpy.py loads them against its numpy DSL."""
