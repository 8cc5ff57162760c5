// Package blocks holds the block families of the lightweight CNNs, one file
// per family: its spec (the settings, with explicit channel counts), its
// shape and cost maths (params, MACs), and its executable form built on the
// nn engine.
//
// Families: plain conv-BN-activation, depthwise-separable conv (MobileNet
// V1), MBConv / inverted residual (MobileNet V2/V3, MnasNet, FBNet,
// EfficientNet), Fire (SqueezeNet), the SqueezeNext block, ShuffleNet V1 and
// V2 units, Ghost bottleneck (GhostNet), EESP (ESPNetv2), pooling and heads.
//
// The arch string and JSON codecs live in package space; this package only
// registers each family's type token (see Register).
package blocks
