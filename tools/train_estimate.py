#!/usr/bin/env python3
"""An estimate, not a measurement: training crops per second of an acc network on a GPU, from its description.

Per training crop, layer by layer (acc.netspec.shapes), in the recipe's bf16 autocast:
  * arithmetic: a convolution costs 3 x its forward FLOPs (forward, input gradient, weight gradient);
  * memory: every layer reads its inputs and writes its output in bf16 (2 bytes) once forward and about
    twice as much backward (3 x the forward bytes); eager PyTorch does this for every BatchNorm and ReLU,
    torch.compile fuses them into the convolutions (then only convolutions, sums and upsamplings count);
  * the loss (float32 logits, log-softmax and the distance to every bin: about 8 passes over a
    Q x crop/4 x crop/4 float32 tensor) and the crop sampler (2x-supersampled float32 crops, 4 passes);
each layer takes the longer of its arithmetic at `eff_flops` x the matrix rate and its bytes at `eff_bytes`
x the copy bandwidth. The defaults are the H100 of the device tool as measured there: an 8192^3 bf16 matrix
product at 798 TFLOP/s and a device-to-device copy at 3.0 TB/s.

    python tools/train_estimate.py --crop 128
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from acc import netspec  # noqa: E402
from acc.networks import acc_tiny, acc_tiny2  # noqa: E402

BINS = 262


def seconds_per_crop(net: netspec.Net, crop: int, flops_rate: float, byte_rate: float, fused: bool) -> float:
    shape = netspec.shapes(net, (crop, crop))
    total = 0.0
    for node in net.nodes:
        elements = int(np.prod(shape[node.name])) + sum(int(np.prod(shape[i])) for i in node.inputs)
        moved = 3 * 2 * elements / byte_rate
        match node.op:
            case netspec.Conv(cin, _, k, groups=g):
                total += max(3 * 2 * int(np.prod(shape[node.name])) * cin // g * k * k / flops_rate, moved)
            case netspec.Add() | netspec.Upsample() | netspec.Concat():
                total += moved
            case _:
                total += 0.0 if fused else moved
    loss = 8 * 4 * BINS * (crop // 4) ** 2
    sampler = 4 * 4 * 3 * (2 * crop) ** 2
    return total + (loss + sampler) / byte_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="tiny2", choices=["tiny1", "tiny2"])
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--tflops", type=float, default=798.0, help="measured bf16 matrix rate, TFLOP/s")
    ap.add_argument("--tbps", type=float, default=3.0, help="measured copy bandwidth (read + write), TB/s")
    args = ap.parse_args()
    net = {"tiny1": acc_tiny, "tiny2": acc_tiny2}[args.arch](BINS)
    gflops = 2 * netspec.macs(net, (args.crop, args.crop)) / 1e9
    print(f"{args.arch} at {args.crop} x {args.crop}: {gflops:.3f} GFLOPs forward, {3 * gflops:.3f} per training crop")
    for eff_flops, eff_bytes in ((0.5, 0.7), (0.25, 0.5)):
        rates = [1 / seconds_per_crop(net, args.crop, eff_flops * args.tflops * 1e12, eff_bytes * args.tbps * 1e12, f)
                 for f in (True, False)]
        print(f"at {eff_flops:.0%} of the matrix rate and {eff_bytes:.0%} of the bandwidth: "
              f"{rates[0]:,.0f} crops/s compiled (fused), {rates[1]:,.0f} eager")


if __name__ == "__main__":
    main()
