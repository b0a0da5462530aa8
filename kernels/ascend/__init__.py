"""acc's colour maths on the Ascend AI Core: TBE DSL operators, their single-op JSON, and what they are
checked with here (kernels/ascend/tbe_numpy.py against kernels/reference.py). docs/ascend.md."""
