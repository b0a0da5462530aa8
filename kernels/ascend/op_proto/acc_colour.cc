/**
 * Shape inference and verification of acc's custom operators (prototypes in acc_colour.h). ATC runs these
 * when it compiles the single-op JSON, so a description that does not fit the kernel fails at build time.
 */
#include "acc_colour.h"

#include <vector>

namespace ge {

namespace {

// out takes in's shape and format, with dtype
void SameShape(Operator &op, const char *in, const char *out, DataType dtype) {
  TensorDesc source = op.GetInputDescByName(in);
  TensorDesc result = op.GetOutputDescByName(out);
  result.SetShape(source.GetShape());
  result.SetDataType(dtype);
  result.SetFormat(source.GetFormat());
  op.UpdateOutputDesc(out, result);
}

// a band: y uint8 (rows, ws) with even rows and ws, a and b float16 of its shape
bool IsBand(const Operator &op) {
  std::vector<int64_t> y = op.GetInputDescByName("y").GetShape().GetDims();
  if (op.GetInputDescByName("y").GetDataType() != DT_UINT8 || y.size() != 2 || y[0] % 2 != 0 || y[1] % 2 != 0) {
    return false;
  }
  for (const char *name : {"a", "b"}) {
    if (op.GetInputDescByName(name).GetShape().GetDims() != y) {
      return false;
    }
  }
  return true;
}

}  // namespace

// ---------------- LabL: l has y's shape, float32 ----------------
IMPLEMT_VERIFIER(LabL, LabLVerify) {
  TensorDesc y = op.GetInputDescByName("y");
  if (y.GetDataType() != DT_UINT8 || y.GetShape().GetDimNum() != 2) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

IMPLEMT_COMMON_INFERFUNC(LabLInferShape) {
  SameShape(op, "y", "l", DT_FLOAT);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(LabL, LabLInferShape);
VERIFY_FUNC_REG(LabL, LabLVerify);

// ---------------- AbMergeY: y_out like y ----------------
IMPLEMT_VERIFIER(AbMergeY, AbMergeYVerify) { return IsBand(op) ? GRAPH_SUCCESS : GRAPH_FAILED; }

IMPLEMT_COMMON_INFERFUNC(AbMergeYInferShape) {
  SameShape(op, "y", "y_out", DT_UINT8);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(AbMergeY, AbMergeYInferShape);
VERIFY_FUNC_REG(AbMergeY, AbMergeYVerify);

// ---------------- AbMergeChroma: q like y, float32; cw (1, ws), rw (rows, 1); channel 0 or 1 ----------------
IMPLEMT_VERIFIER(AbMergeChroma, AbMergeChromaVerify) {
  if (!IsBand(op)) {
    return GRAPH_FAILED;
  }
  std::vector<int64_t> y = op.GetInputDescByName("y").GetShape().GetDims();
  std::vector<int64_t> cw = {1, y[1]};
  std::vector<int64_t> rw = {y[0], 1};
  if (op.GetInputDescByName("cw").GetShape().GetDims() != cw ||
      op.GetInputDescByName("rw").GetShape().GetDims() != rw) {
    return GRAPH_FAILED;
  }
  int64_t channel = -1;
  if (op.GetAttr("channel", channel) != GRAPH_SUCCESS || (channel != 0 && channel != 1)) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

IMPLEMT_COMMON_INFERFUNC(AbMergeChromaInferShape) {
  SameShape(op, "y", "q", DT_FLOAT);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(AbMergeChroma, AbMergeChromaInferShape);
VERIFY_FUNC_REG(AbMergeChroma, AbMergeChromaVerify);

// ---------------- ChromaToU8: y like x, uint8 ----------------
IMPLEMT_VERIFIER(ChromaToU8, ChromaToU8Verify) {
  TensorDesc x = op.GetInputDescByName("x");
  if (x.GetDataType() != DT_FLOAT || x.GetShape().GetDimNum() != 2) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

IMPLEMT_COMMON_INFERFUNC(ChromaToU8InferShape) {
  SameShape(op, "x", "y", DT_UINT8);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(ChromaToU8, ChromaToU8InferShape);
VERIFY_FUNC_REG(ChromaToU8, ChromaToU8Verify);

}  // namespace ge
