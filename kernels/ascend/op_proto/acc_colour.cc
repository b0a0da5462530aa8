/**
 * Shape inference and verification of LabL and AbMerge (prototypes in acc_colour.h). ATC runs these when
 * it compiles the single-op JSON, so a description that does not fit the kernel fails at build time.
 */
#include "acc_colour.h"

#include <vector>

namespace ge {

// ---------------- LabL: l has y's shape, float32 ----------------
IMPLEMT_VERIFIER(LabL, LabLVerify) {
  TensorDesc y = op.GetInputDescByName("y");
  if (y.GetDataType() != DT_UINT8 || y.GetShape().GetDimNum() != 2) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

IMPLEMT_COMMON_INFERFUNC(LabLInferShape) {
  TensorDesc y = op.GetInputDescByName("y");
  TensorDesc l = op.GetOutputDescByName("l");
  l.SetShape(y.GetShape());
  l.SetDataType(DT_FLOAT);
  l.SetFormat(y.GetFormat());
  op.UpdateOutputDesc("l", l);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(LabL, LabLInferShape);
VERIFY_FUNC_REG(LabL, LabLVerify);

// ---------------- AbMerge: y_out like y; uv_out (rows/2, 1, ws/2, 2) ----------------
IMPLEMT_VERIFIER(AbMerge, AbMergeVerify) {
  std::vector<int64_t> y = op.GetInputDescByName("y").GetShape().GetDims();
  if (y.size() != 4 || y[1] != 2 || y[3] != 2) {
    return GRAPH_FAILED;
  }
  for (const char *name : {"a", "b"}) {
    if (op.GetInputDescByName(name).GetShape().GetDims() != y) {
      return GRAPH_FAILED;
    }
  }
  std::vector<int64_t> cw = {1, 1, y[2], 2};
  std::vector<int64_t> rw = {y[0], 2, 1, 1};
  if (op.GetInputDescByName("cw").GetShape().GetDims() != cw ||
      op.GetInputDescByName("rw").GetShape().GetDims() != rw) {
    return GRAPH_FAILED;
  }
  return GRAPH_SUCCESS;
}

IMPLEMT_COMMON_INFERFUNC(AbMergeInferShape) {
  TensorDesc y = op.GetInputDescByName("y");
  std::vector<int64_t> dims = y.GetShape().GetDims();
  TensorDesc y_out = op.GetOutputDescByName("y_out");
  y_out.SetShape(y.GetShape());
  y_out.SetDataType(DT_UINT8);
  y_out.SetFormat(y.GetFormat());
  op.UpdateOutputDesc("y_out", y_out);
  TensorDesc uv_out = op.GetOutputDescByName("uv_out");
  uv_out.SetShape(Shape({dims[0], 1, dims[2], 2}));
  uv_out.SetDataType(DT_UINT8);
  uv_out.SetFormat(y.GetFormat());
  op.UpdateOutputDesc("uv_out", uv_out);
  return GRAPH_SUCCESS;
}

COMMON_INFER_FUNC_REG(AbMerge, AbMergeInferShape);
VERIFY_FUNC_REG(AbMerge, AbMergeVerify);

}  // namespace ge
