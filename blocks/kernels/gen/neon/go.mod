module nas/blocks/kernels/gen/neon

go 1.26.0
