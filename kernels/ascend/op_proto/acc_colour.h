/**
 * Operator prototypes of acc's custom operators (implementations: ../tbe/acc_colour.py).
 *
 * LabL           y (h, w) uint8 luma of the model-size picture -> l (h, w) float32 = (L - l_offset) * l_scale
 * AbMergeY       one band of the full-size picture: y (rows, ws) uint8, a and b (rows, ws) float16 (ab
 *                upsampled to full size) -> y_out (rows, ws) uint8, the band's Y' rows
 * AbMergeChroma  y, a, b as AbMergeY, cw (1, ws) and rw (rows, 1) float16 chroma weights, attr channel
 *                (0 Cb, 1 Cr) -> q (rows, ws) float32, each pixel's weighted Cb or Cr
 * ChromaToU8     x (n, ws) float32 block sums, Cb and Cr interleaved -> y (n, ws) uint8, rounded
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

REG_OP(AbMergeY)
    .INPUT(y, TensorType({DT_UINT8}))
    .INPUT(a, TensorType({DT_FLOAT16}))
    .INPUT(b, TensorType({DT_FLOAT16}))
    .OUTPUT(y_out, TensorType({DT_UINT8}))
    .OP_END_FACTORY_REG(AbMergeY)

REG_OP(AbMergeChroma)
    .INPUT(y, TensorType({DT_UINT8}))
    .INPUT(a, TensorType({DT_FLOAT16}))
    .INPUT(b, TensorType({DT_FLOAT16}))
    .INPUT(cw, TensorType({DT_FLOAT16}))
    .INPUT(rw, TensorType({DT_FLOAT16}))
    .OUTPUT(q, TensorType({DT_FLOAT}))
    .REQUIRED_ATTR(channel, Int)
    .OP_END_FACTORY_REG(AbMergeChroma)

REG_OP(ChromaToU8)
    .INPUT(x, TensorType({DT_FLOAT}))
    .OUTPUT(y, TensorType({DT_UINT8}))
    .OP_END_FACTORY_REG(ChromaToU8)

}  // namespace ge

#endif  // ACC_OP_PROTO_ACC_COLOUR_H_
