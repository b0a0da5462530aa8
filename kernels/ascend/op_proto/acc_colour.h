/**
 * Operator prototypes of acc's custom operators (implementations: ../tbe/acc_colour.py).
 *
 * LabL     y (h, w) uint8 luma of the model-size picture -> l (h, w) float32 = (L - l_offset) * l_scale
 * AbMerge  one band of the full-size picture, seen as 2x2 blocks (rows/2, 2, ws/2, 2):
 *          y uint8, a and b float16 (ab upsampled to full size), cw (1, 1, ws/2, 2) and rw (rows/2, 2, 1, 1)
 *          float16 chroma weights -> y_out uint8 like y, uv_out (rows/2, 1, ws/2, 2) uint8 interleaved CbCr
 */
#ifndef ACC_OP_PROTO_ACC_COLOUR_H_
#define ACC_OP_PROTO_ACC_COLOUR_H_

#include "graph/operator_reg.h"

namespace ge {

REG_OP(LabL)
    .INPUT(y, TensorType({DT_UINT8}))
    .OUTPUT(l, TensorType({DT_FLOAT}))
    .REQUIRED_ATTR(l_offset, Float)
    .REQUIRED_ATTR(l_scale, Float)
    .OP_END_FACTORY_REG(LabL)

REG_OP(AbMerge)
    .INPUT(y, TensorType({DT_UINT8}))
    .INPUT(a, TensorType({DT_FLOAT16}))
    .INPUT(b, TensorType({DT_FLOAT16}))
    .INPUT(cw, TensorType({DT_FLOAT16}))
    .INPUT(rw, TensorType({DT_FLOAT16}))
    .OUTPUT(y_out, TensorType({DT_UINT8}))
    .OUTPUT(uv_out, TensorType({DT_UINT8}))
    .OP_END_FACTORY_REG(AbMerge)

}  // namespace ge

#endif  // ACC_OP_PROTO_ACC_COLOUR_H_
