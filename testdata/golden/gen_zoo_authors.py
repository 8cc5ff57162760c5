"""Golden data for the zoo networks that torchvision lacks, from ports of
their authors' models: GhostNet, ShuffleNet V1 (3 groups), 1.0-SqNxt-23,
ESPNetv2 (s = 1) and FBNet-A.

Run from the repository root with Debian's Python (torch 1.13); it takes
a minute or two per network:

    /usr/bin/python3 testdata/golden/gen_zoo_authors.py [network ...]

Everything but the models comes from gen_zoo.py: the deterministic
weights, input and upstream gradient, the choice of a well-conditioned
input, the sensitivity to float32 rounding, and the file format
(testdata/golden/zoo/<name>.safetensors, read by space/equiv_test.go).

Each port registers its modules in the order in which the zoo's graph
lists its tensors, because the Go test maps weights by their index in the
state dict (and checks the suffixes of the names). Where that order, or
the modules, differ from the authors' code, the port says so; none of
those differences changes what the network computes. Tensors that the
authors' code creates but never uses (ESPNetv2's) are left out.
"""
import math
import sys

import torch
import torch.nn.functional as F
from torch import nn

import gen_zoo as gz

CLASSES = gz.CLASSES


# GhostNet as its authors build it: a port of their PyTorch
# model (huawei-noah, ghostnet_pytorch/ghostnet.py, "GhostNet: More
# Features from Cheap Operations", Han et al., 2020) with the same modules
# registered in the same order, so that its state dict has the authors'
# names and order.

def ghost_divisible(v, divisor=4):
    """The TensorFlow MobileNet make_divisible the authors use."""
    n = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return n + divisor if n < 0.9 * v else n


class GhostSE(torch.nn.Module):
    def __init__(self, chs):
        super().__init__()
        reduced = ghost_divisible(chs * 0.25)
        self.avg_pool = torch.nn.AdaptiveAvgPool2d(1)
        self.conv_reduce = torch.nn.Conv2d(chs, reduced, 1, bias=True)
        self.act1 = torch.nn.ReLU()
        self.conv_expand = torch.nn.Conv2d(reduced, chs, 1, bias=True)
        self.gate = torch.nn.Hardsigmoid()  # relu6(x + 3) / 6, the authors' hard_sigmoid

    def forward(self, x):
        s = self.conv_expand(self.act1(self.conv_reduce(self.avg_pool(x))))
        return x * self.gate(s)


class GhostModule(torch.nn.Module):
    def __init__(self, inp, oup, relu):
        super().__init__()
        self.oup = oup
        init = math.ceil(oup / 2)

        def act():
            return torch.nn.ReLU() if relu else torch.nn.Sequential()
        self.primary_conv = torch.nn.Sequential(
            torch.nn.Conv2d(inp, init, 1, 1, 0, bias=False), torch.nn.BatchNorm2d(init), act())
        self.cheap_operation = torch.nn.Sequential(
            torch.nn.Conv2d(init, init, 3, 1, 1, groups=init, bias=False), torch.nn.BatchNorm2d(init), act())

    def forward(self, x):
        a = self.primary_conv(x)
        return torch.cat([a, self.cheap_operation(a)], dim=1)[:, :self.oup]


class GhostBottleneck(torch.nn.Module):
    def __init__(self, cin, mid, cout, k, stride, se):
        super().__init__()
        self.stride = stride
        self.ghost1 = GhostModule(cin, mid, relu=True)
        if stride > 1:
            self.conv_dw = torch.nn.Conv2d(mid, mid, k, stride, (k - 1) // 2, groups=mid, bias=False)
            self.bn_dw = torch.nn.BatchNorm2d(mid)
        self.se = GhostSE(mid) if se else None
        self.ghost2 = GhostModule(mid, cout, relu=False)
        if cin == cout and stride == 1:
            self.shortcut = torch.nn.Sequential()
        else:
            self.shortcut = torch.nn.Sequential(
                torch.nn.Conv2d(cin, cin, k, stride, (k - 1) // 2, groups=cin, bias=False),
                torch.nn.BatchNorm2d(cin),
                torch.nn.Conv2d(cin, cout, 1, 1, 0, bias=False),
                torch.nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.ghost1(x)
        if self.stride > 1:
            y = self.bn_dw(self.conv_dw(y))
        if self.se is not None:
            y = self.se(y)
        return self.ghost2(y) + self.shortcut(x)


# kernel, expanded, out, SE, stride; grouped into the authors' stages.
GHOST_STAGES = [
    [(3, 16, 16, 0, 1)], [(3, 48, 24, 0, 2)], [(3, 72, 24, 0, 1)],
    [(5, 72, 40, 1, 2)], [(5, 120, 40, 1, 1)], [(3, 240, 80, 0, 2)],
    [(3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 1, 1), (3, 672, 112, 1, 1)],
    [(5, 672, 160, 1, 2)],
    [(5, 960, 160, 0, 1), (5, 960, 160, 1, 1), (5, 960, 160, 0, 1), (5, 960, 160, 1, 1)],
]


class GhostNet(torch.nn.Module):
    def __init__(self, num_classes, width=1.0, dropout=0.2):
        super().__init__()
        self.dropout = dropout
        c = ghost_divisible(16 * width)
        self.conv_stem = torch.nn.Conv2d(3, c, 3, 2, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(c)
        self.act1 = torch.nn.ReLU()
        stages = []
        for stage in GHOST_STAGES:
            blocks = []
            for k, exp, out, se, s in stage:
                o, m = ghost_divisible(out * width), ghost_divisible(exp * width)
                blocks.append(GhostBottleneck(c, m, o, k, s, se))
                c = o
            stages.append(torch.nn.Sequential(*blocks))
        last = ghost_divisible(960 * width)
        head = torch.nn.Sequential()
        head.conv = torch.nn.Conv2d(c, last, 1, 1, 0, bias=False)  # the authors' ConvBnAct
        head.bn1 = torch.nn.BatchNorm2d(last)
        head.act1 = torch.nn.ReLU()
        stages.append(torch.nn.Sequential(head))
        self.blocks = torch.nn.Sequential(*stages)
        self.global_pool = torch.nn.AdaptiveAvgPool2d(1)
        self.conv_head = torch.nn.Conv2d(last, 1280, 1, 1, 0, bias=True)
        self.act2 = torch.nn.ReLU()
        self.classifier = torch.nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.blocks(self.act1(self.bn1(self.conv_stem(x))))
        x = self.act2(self.conv_head(self.global_pool(x))).flatten(1)
        x = torch.nn.functional.dropout(x, p=self.dropout, training=self.training)
        return self.classifier(x)


# ShuffleNet V1 as Megvii's reference code builds it (megvii-model,
# ShuffleNet-Series, ShuffleNetV1/network.py and blocks.py; Zhang et al.,
# "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
# Mobile Devices", 2018): at 1.0x with 3 groups, stages of 240, 480 and 960
# channels. Megvii's shuffle comes after the depthwise convolution and views
# the channels as (C / groups) x groups before transposing.

class ShuffleV1Unit(nn.Module):
    def __init__(self, cin, cout, group, first_group, stride):
        super().__init__()
        self.stride, self.group = stride, group
        mid = cout // 4
        outputs = cout - cin if stride == 2 else cout
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(cin, mid, 1, 1, 0, groups=1 if first_group else group, bias=False),
            nn.BatchNorm2d(mid), nn.ReLU(),
            nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, outputs, 1, 1, 0, groups=group, bias=False), nn.BatchNorm2d(outputs))
        self.relu = nn.ReLU()
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(3, 2, 1)

    def shuffle(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, c // self.group, self.group, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)

    def forward(self, x):
        y = self.branch_main_1(x)
        if self.group > 1:
            y = self.shuffle(y)
        y = self.branch_main_2(y)
        if self.stride == 1:
            return self.relu(y + x)
        return torch.cat((self.branch_proj(x), self.relu(y)), 1)


class ShuffleNetV1(nn.Module):
    WIDTHS = {3: (24, 240, 480, 960), 8: (24, 384, 768, 1536)}  # 1.0x

    def __init__(self, num_classes, group=3):
        super().__init__()
        widths = self.WIDTHS[group]
        c = widths[0]
        self.first_conv = nn.Sequential(nn.Conv2d(3, c, 3, 2, 1, bias=False), nn.BatchNorm2d(c), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        units = []
        for stage, (reps, out) in enumerate(zip((4, 8, 4), widths[1:])):
            for i in range(reps):
                units.append(ShuffleV1Unit(c, out, group, stage == 0 and i == 0, 2 if i == 0 else 1))
                c = out
        self.features = nn.Sequential(*units)
        # Megvii pools with AvgPool2d(7) for 224 x 224 inputs: a global pool.
        self.classifier = nn.Linear(c, num_classes, bias=False)

    def forward(self, x):
        x = self.features(self.maxpool(self.first_conv(x)))
        return self.classifier(x.mean((2, 3)))


# 1.0-SqNxt-23 as the authors' Caffe definition builds it (amirgholami,
# SqueezeNext, 1.0-SqNxt-23/train_val.prototxt; Gholami et al.,
# "SqueezeNext: Hardware-Aware Neural Network Design", 2018). Every
# convolution has no bias and is followed by BN and ReLU. In a block: a 1x1
# reduction (with the block's stride), a 1x1 squeeze to half of it, a
# separable 3x3 as a 3x1 and a 1x3, and a 1x1 expansion; the shortcut is
# the input or, when the shape changes, a 1x1 convolution (with the
# stride); the sum goes through a ReLU. The prototxt alternates the order
# of the separable pair: the even blocks of each stage (counting from 0)
# run the 3x1 first, the odd ones the 1x3. The stem is a 7x7 stride-2
# convolution to 64 channels; the prototxt leaves it unpadded for 227 x 227
# crops, the zoo pads it by 1 (for the same 55 x 55 after the pool at
# 224 x 224), and so does this port. The Caffe pooling rounds up (ceil
# mode). The prototxt defines each block's shortcut before its main branch;
# here it comes last, as in the zoo's graph.

class SqNxtConv(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.ReLU()


class SqNxtBlock(nn.Module):
    def __init__(self, cin, cout, stride, width_first):
        super().__init__()
        if stride == 2:
            r = cin
        elif cin > cout:
            r = cin // 4
        else:
            r = cin // 2
        sq = r // 2
        self.reduce = SqNxtConv(cin, r, 1, stride)
        self.squeeze = SqNxtConv(r, sq, 1)
        if width_first:
            self.conv1x3 = SqNxtConv(sq, r, (1, 3), padding=(0, 1))
            self.conv3x1 = SqNxtConv(r, r, (3, 1), padding=(1, 0))
            self.pair = (self.conv1x3, self.conv3x1)
        else:
            self.conv3x1 = SqNxtConv(sq, r, (3, 1), padding=(1, 0))
            self.conv1x3 = SqNxtConv(r, r, (1, 3), padding=(0, 1))
            self.pair = (self.conv3x1, self.conv1x3)
        self.expand = SqNxtConv(r, cout, 1)
        self.shortcut = SqNxtConv(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.squeeze(self.reduce(x))
        y = self.expand(self.pair[1](self.pair[0](y)))
        return self.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class SqueezeNext23(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.stem = SqNxtConv(3, 64, 7, 2, 1)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        blocks, c = [], 64
        for stage, (reps, out) in enumerate(zip((6, 6, 8, 1), (32, 64, 128, 256))):
            for i in range(reps):
                blocks.append(SqNxtBlock(c, out, 2 if i == 0 and stage > 0 else 1, i % 2 == 1))
                c = out
        self.blocks = nn.Sequential(*blocks)
        self.head = SqNxtConv(c, 128, 1)
        self.fc = nn.Linear(128, num_classes, bias=False)

    def forward(self, x):
        x = self.head(self.blocks(self.pool(self.stem(x))))
        return self.fc(x.mean((2, 3)))


# ESPNetv2 for ImageNet classification as its author's code builds it
# (sacmehta, EdgeNets, model/classification/espnetv2.py and
# espnetv2_config.py, nn_layers/eesp.py and espnet_utils.py; Mehta et al.,
# "ESPNetv2: A Light-weight, Power Efficient, and General Purpose
# Convolutional Neural Network", 2019), at s = 1: channels 32, 64, 128,
# 256, 512 and 1024, 4 branches, receptive-field limits 13, 11, 9, 7, 5,
# input reinforcement on. Differences in registration only: an EESP unit
# here registers br_after_cat before conv_1x1_exp (its forward order; the
# authors register them the other way), and the modules the authors create
# but never run are left out: module_act of the EESP inside a down-sampler
# (it returns before the activation) and inp_reinf of the last
# down-sampler (called without the image).

class CBR(nn.Sequential):
    """Convolution + BN (+ PReLU), padding (k - 1) / 2 * dilation."""

    def __init__(self, cin, cout, k, stride=1, groups=1, dilation=1, bn=True, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2 * dilation, dilation, groups, bias=False)
        if bn:
            self.bn = nn.BatchNorm2d(cout)
        if act:
            self.act = nn.PReLU(cout)


class BR(nn.Sequential):
    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.PReLU(c)


class EESP(nn.Module):
    def __init__(self, cin, cout, stride=1, k=4, r_lim=7, down=False):
        super().__init__()
        self.stride, self.down = stride, down
        n = cout // k
        assert n * k == cout
        self.proj_1x1 = CBR(cin, n, 1, groups=k)
        # Kernel sizes 3, 5, 7, 9 (dilations 1..4), each beyond r_lim
        # replaced by 3, sorted ascending.
        sizes = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(k))
        self.spp_dw = nn.ModuleList(
            CBR(n, n, 3, stride, groups=n, dilation=(s - 1) // 2, bn=False, act=False) for s in sizes)
        self.br_after_cat = BR(cout)
        self.conv_1x1_exp = CBR(cout, cout, 1, groups=k, act=False)
        if not down:
            self.module_act = nn.PReLU(cout)

    def forward(self, x):
        y = self.proj_1x1(x)
        outs = [self.spp_dw[0](y)]
        for conv in self.spp_dw[1:]:
            outs.append(conv(y) + outs[-1])  # hierarchical feature fusion
        y = self.conv_1x1_exp(self.br_after_cat(torch.cat(outs, 1)))
        if self.down:
            return y
        if y.shape == x.shape:
            y = y + x
        return self.module_act(y)


class DownSampler(nn.Module):
    def __init__(self, cin, cout, k, r_lim, reinf):
        super().__init__()
        self.eesp = EESP(cin, cout - cin, 2, k, r_lim, down=True)
        self.avg = nn.AvgPool2d(3, 2, 1)
        if reinf:
            self.inp_reinf = nn.Sequential(CBR(3, 3, 3), CBR(3, cout, 1, act=False))
        else:
            self.inp_reinf = None
        self.act = nn.PReLU(cout)

    def forward(self, x, image):
        pooled = self.avg(x)
        y = torch.cat([pooled, self.eesp(x)], 1)
        if self.inp_reinf is not None:
            while image.shape[2] != pooled.shape[2]:
                image = F.avg_pool2d(image, 3, 2, 1)
            y = y + self.inp_reinf(image)
        return self.act(y)


class ESPNetV2(nn.Module):
    def __init__(self, num_classes, dropout=0.2):
        super().__init__()
        self.dropout = dropout
        ch, lim, k = [32, 64, 128, 256, 512, 1024], [13, 11, 9, 7, 5], 4
        self.level1 = CBR(3, ch[0], 3, 2)
        self.level2_0 = DownSampler(ch[0], ch[1], k, lim[0], True)
        self.level3_0 = DownSampler(ch[1], ch[2], k, lim[1], True)
        self.level3 = nn.Sequential(*[EESP(ch[2], ch[2], 1, k, lim[2]) for _ in range(3)])
        self.level4_0 = DownSampler(ch[2], ch[3], k, lim[2], True)
        self.level4 = nn.Sequential(*[EESP(ch[3], ch[3], 1, k, lim[3]) for _ in range(7)])
        self.level5_0 = DownSampler(ch[3], ch[4], k, lim[3], False)
        self.level5 = nn.Sequential(*[EESP(ch[4], ch[4], 1, k, lim[4]) for _ in range(3)],
                                    CBR(ch[4], ch[4], 3, groups=ch[4]), CBR(ch[4], ch[5], 1, groups=k))
        self.classifier = nn.Linear(ch[5], num_classes)

    def forward(self, image):
        x = self.level1(image)
        x = self.level3(self.level3_0(self.level2_0(x, image), image))
        x = self.level4(self.level4_0(x, image))
        x = self.level5(self.level5_0(x, None))
        x = F.dropout(x.mean((2, 3)), p=self.dropout, training=self.training)
        return self.classifier(x)


# FBNet-A as the FBNet authors' code builds it (facebookresearch,
# maskrcnn-benchmark, maskrcnn_benchmark/modeling/backbone/fbnet_builder.py
# (IRFBlock, ChannelShuffle, ConvBNRelu) and fbnet_modeldef.py (fbnet_a);
# Wu et al., "FBNet: Hardware-Aware Efficient ConvNet Design via
# Differentiable Neural Architecture Search", 2019). An IRFBlock is a 1x1
# conv (in pw_group groups) + BN + ReLU, kept at expansion 1; a channel
# shuffle over pw_group groups for the ir_k*_s2 blocks; a depthwise conv
# with the stride + BN + ReLU; a 1x1 conv (in pw_group groups) + BN; the
# input added when the shape is kept. No convolution has a bias. The
# "skip" blocks of FBNet-A keep channels and stride: identities, left out.
# The classification head (ConvBNRelu 1x1 to 1504 channels, global average
# pooling, a fully connected layer) follows mobile-vision's FBNet models.

class ConvBNRelu(nn.Sequential):
    def __init__(self, cin, cout, kernel, stride=1, groups=1, relu=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if relu:
            self.relu = nn.ReLU()


class IRFBlock(nn.Module):
    def __init__(self, cin, cout, expansion, stride, kernel, pw_group=1):
        super().__init__()
        self.residual = stride == 1 and cin == cout
        self.group = pw_group
        mid = int(cin * expansion)
        self.pw = ConvBNRelu(cin, mid, 1, groups=pw_group)
        self.dw = ConvBNRelu(mid, mid, kernel, stride, groups=mid)
        self.pwl = ConvBNRelu(mid, cout, 1, groups=pw_group, relu=False)

    def forward(self, x):
        y = self.pw(x)
        if self.group > 1:  # ChannelShuffle(pw_group): [N, g, C/g] -> [N, C/g, g]
            n, c, h, w = y.shape
            y = y.view(n, self.group, c // self.group, h, w).permute(0, 2, 1, 3, 4).reshape(n, c, h, w)
        y = self.pwl(self.dw(y))
        return y + x if self.residual else y


# fbnet_a's block_op_type and block_cfg per stage: (channels, first stride,
# ops); an op is (kernel, expansion, pw_group), None for "skip".
FBNET_A = [
    (16, 1, [None]),
    (24, 2, [(3, 3, 1), (3, 1, 1), None, None]),
    (32, 2, [(5, 6, 1), (3, 3, 1), (5, 1, 1), (3, 3, 1)]),
    (64, 2, [(5, 6, 1), (5, 3, 1), (5, 1, 2), (5, 6, 1)]),
    (112, 1, [(3, 6, 1), (5, 1, 2), (5, 1, 1), (3, 1, 2)]),
    (184, 2, [(5, 6, 1), (5, 6, 1), (5, 3, 1), (5, 6, 1)]),
    (352, 1, [(5, 6, 1)]),
]


class FBNet(nn.Module):
    def __init__(self, num_classes, stages=FBNET_A, last=1504):
        super().__init__()
        self.first = ConvBNRelu(3, 16, 3, 2)
        blocks, c = [], 16
        for out, stride, ops in stages:
            for i, op in enumerate(ops):
                s = stride if i == 0 else 1
                if op is None:
                    assert c == out and s == 1
                    continue
                kernel, e, g = op
                blocks.append(IRFBlock(c, out, e, s, kernel, g))
                c = out
        self.stages = nn.Sequential(*blocks)
        self.last = ConvBNRelu(c, last, 1)
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.last(self.stages(self.first(x)))
        return self.fc(x.mean((2, 3)))


# SqueezeNext's training mode is left out. Its main path holds 107
# convolutions each followed by BN and ReLU; in training mode every BN
# normalises over the batch, and through so many of them the output depends
# chaotically on the input: PyTorch's own float32 training-mode output is
# 2e-3 to 6e-3 off its float64 one (measured at 2 x 3 x 64 x 64, 8 x 3 x
# 64 x 64 and 2 x 3 x 128 x 128), its parameter gradients up to tens of
# percents (the file's torch_float32_error_train), and the rounding model
# moves them by as much. No float32 code can be held to the reference
# there; the eval mode, where every BN is a fixed affine map, is well
# conditioned (1e-6) and checks the same wiring, forward and backward.
SQUEEZENEXT_NO_TRAIN = (
    "training mode is chaotic through 107 batch-normalised layers: PyTorch's own float32 "
    "result is off its float64 one by torch_float32_error_train")

NETWORKS = {
    "ghostnet": (lambda: GhostNet(CLASSES), None),
    "shufflenet_v1_g3": (lambda: ShuffleNetV1(CLASSES, group=3), None),
    "squeezenext23": (lambda: SqueezeNext23(CLASSES), SQUEEZENEXT_NO_TRAIN),
    "espnetv2": (lambda: ESPNetV2(CLASSES), None),
    "fbnet_a": (lambda: FBNet(CLASSES), None),
}


def main():
    only = sys.argv[1:]
    for name in only:
        if name not in NETWORKS:
            sys.exit(f"no network {name!r}: choose from {', '.join(NETWORKS)}")
    for name, (make, no_train) in NETWORKS.items():
        if not only or name in only:
            gz.generate(name, make, no_train=no_train)


if __name__ == "__main__":
    main()
