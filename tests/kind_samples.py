"""One small valid use of every registered kind: (node text, input shapes).  Shared by tests."""

def _samples():
    s = {}
    for nd, shp in ((1, [4, 12]), (2, [4, 10, 9]), (3, [4, 6, 7, 5])):
        s[f"Conv{nd}d"] = (f"Conv{nd}d(4, 6, 3, stride=2, padding=1, dilation=1, groups=2)", [shp])
        s[f"LazyConv{nd}d"] = (f"LazyConv{nd}d(6, 3, padding=2, dilation=2, bias=False)", [shp])
        s[f"ConvTranspose{nd}d"] = (f"ConvTranspose{nd}d(4, 6, 3, stride=2, padding=1, output_padding=1)", [shp])
        s[f"LazyConvTranspose{nd}d"] = (f"LazyConvTranspose{nd}d(4, 2, stride=2, groups=2)", [shp])
        s[f"BatchNorm{nd}d"] = (f"BatchNorm{nd}d(4)", [shp])
        s[f"LazyBatchNorm{nd}d"] = (f"LazyBatchNorm{nd}d()", [shp])
        s[f"InstanceNorm{nd}d"] = (f"InstanceNorm{nd}d(4, affine=True)", [shp])
        s[f"MaxPool{nd}d"] = (f"MaxPool{nd}d(3, stride=2, padding=1, ceil_mode=True)", [shp])
        s[f"AvgPool{nd}d"] = (f"AvgPool{nd}d(2, ceil_mode=True, count_include_pad=False)", [shp])
        s[f"AdaptiveAvgPool{nd}d"] = (f"AdaptiveAvgPool{nd}d(3)", [shp])
        s[f"AdaptiveMaxPool{nd}d"] = (f"AdaptiveMaxPool{nd}d(2)", [shp])
        s[f"ZeroPad{nd}d"] = (f"ZeroPad{nd}d({list(range(1, 2 * nd + 1))})", [shp])
        s[f"ConstantPad{nd}d"] = (f"ConstantPad{nd}d(1, 0.5)", [shp])
        s[f"ReflectionPad{nd}d"] = (f"ReflectionPad{nd}d(2)", [shp])
        s[f"ReplicationPad{nd}d"] = (f"ReplicationPad{nd}d(1)", [shp])
        s[f"Dropout{nd}d"] = (f"Dropout{nd}d(0.3)", [shp])
    s["BatchNorm1d"] = ("BatchNorm1d(4)", [[4]])
    s["LPPool1d"] = ("LPPool1d(2, 3, stride=2)", [[4, 12]])
    s["LPPool2d"] = ("LPPool2d(2, 2)", [[4, 10, 9]])
    s["DeformConv2d"] = None   # needs two inputs: covered by a dedicated test
    s["Linear"] = ("Linear(12, 5)", [[12]])
    s["LazyLinear"] = ("LazyLinear(5, bias=False)", [[3, 12]])
    s["GroupNorm"] = ("GroupNorm(2, 4)", [[4, 10, 9]])
    s["LayerNorm"] = ("LayerNorm([10, 9])", [[4, 10, 9]])
    s["LocalResponseNorm"] = ("LocalResponseNorm(3)", [[4, 10, 9]])
    for a in ("ReLU", "ReLU6", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
              "Tanh", "Hardswish", "Hardsigmoid", "Hardtanh", "Softplus"):
        s[a] = (f"{a}()", [[4, 10, 9]])
    s["PReLU"] = ("PReLU(4)", [[4, 10, 9]])
    s["Softmax"] = ("Softmax(dim=1)", [[4, 10, 9]])
    s["LogSoftmax"] = ("LogSoftmax(dim=1)", [[10]])
    s["Dropout"] = ("Dropout(0.2)", [[4, 10, 9]])
    s["AlphaDropout"] = ("AlphaDropout(0.2)", [[4, 10, 9]])
    s["Flatten"] = ("Flatten()", [[4, 10, 9]])
    s["Unflatten"] = ("Unflatten(1, [2, 6])", [[12]])
    s["Identity"] = ("Identity()", [[4, 10, 9]])
    s["Upsample"] = ("Upsample(scale_factor=2, mode='bilinear')", [[4, 10, 9]])
    s["interpolate"] = ("interpolate(size=[5, 7], mode='nearest')", [[4, 10, 9]])
    s["PixelShuffle"] = ("PixelShuffle(2)", [[8, 5, 4]])
    s["PixelUnshuffle"] = ("PixelUnshuffle(2)", [[2, 10, 8]])
    s["ChannelShuffle"] = ("ChannelShuffle(2)", [[4, 10, 9]])
    s["Unfold"] = ("Unfold(3, dilation=[1, 2], padding=1, stride=2)", [[2, 7, 6]])
    s["CrossEntropyLoss"] = ("CrossEntropyLoss()", [[10]])
    s["NLLLoss"] = ("NLLLoss()", [[10]])
    for l in ("MSELoss", "L1Loss", "SmoothL1Loss", "BCEWithLogitsLoss"):
        s[l] = (f"{l}()", [[10]])
    s["BCELoss"] = ("BCELoss()", [[10]])
    for b in ("add", "sub", "mul", "div"):
        s[b] = (b, [[4, 10, 9], [4, 1, 1]])
    s["abs"] = ("abs", [[4, 10, 9]])
    s["cat"] = ("cat", [[4, 10, 9], [3, 10, 9]])
    s["stack"] = ("stack(dim=1)", [[4, 10, 9], [4, 10, 9]])
    s["chunk"] = ("chunk(2, dim=1)", [[4, 10, 9]])
    s["split"] = ("split([1, 3], dim=1)", [[4, 10, 9]])
    s["flatten"] = ("flatten(start_dim=1)", [[4, 10, 9]])
    s["reshape"] = ("reshape([2, 2, 90])", [[4, 10, 9]])
    s["permute"] = ("permute([0, 2, 3, 1])", [[4, 10, 9]])
    s["mean"] = ("mean(dim=[2, 3], keepdim=True)", [[4, 10, 9]])
    s["amax"] = ("amax(dim=1)", [[4, 10, 9]])
    # attention: sequences are [L, E] (batch excluded); cross-attention with other key/value sizes
    s["MultiheadAttention"] = ("MultiheadAttention(8, 2, kdim=6, vdim=4)", [[5, 8], [7, 6], [7, 4]])
    s["scaled_dot_product_attention"] = ("scaled_dot_product_attention", [[2, 5, 4], [2, 7, 4], [2, 7, 4]])
    s["matmul"] = ("matmul", [[2, 5, 4], [2, 4, 3]])
    s["bmm"] = ("bmm", [[5, 4], [4, 3]])
    s["transpose"] = ("transpose(1, 2)", [[4, 10, 9]])
    s["softmax"] = ("softmax(dim=-1)", [[4, 10, 9]])
    # recurrent: sequences [L, input_size]; the LSTM with a projection runs torch's composite path on the CPU
    s["LSTM"] = ("LSTM(6, 5, num_layers=2, bidirectional=True, proj_size=3)", [[7, 6]])
    s["GRU"] = ("GRU(6, 5, bidirectional=True)", [[7, 6]])
    s["einsum"] = ("einsum('bhid,bhjd->bhij')", [[2, 5, 4], [2, 3, 4]])
    s["getitem"] = ("getitem([0, [1, 9, 2]])", [[4, 10, 9]])
    s["roll"] = ("roll([-3, 2], [2, 3])", [[4, 10, 9]])
    s["relative_position_bias"] = ("relative_position_bias(9)", [[2, 4, 4]])
    s["ShiftedWindowAttention"] = ("ShiftedWindowAttention(8, [4, 4], [2, 2], 2)", [[6, 8, 8]])
    s["ShiftedWindowAttentionV2"] = ("ShiftedWindowAttentionV2(8, [4, 4], [2, 2], 2)", [[6, 8, 8]])
    s["ShiftedWindowAttention3d"] = ("ShiftedWindowAttention3d(8, [2, 4, 4], [1, 2, 2], 2)", [[4, 6, 8, 8]])
    s["patch_merging_pad"] = ("patch_merging_pad", [[5, 6, 4]])
    s["MultiscaleAttention"] = ("MultiscaleAttention(8, 8, 2, [1, 4, 4], kernel_q=[3, 3, 3], kernel_kv=[3, 3, 3], "
                                "stride_q=[1, 2, 2], stride_kv=[1, 2, 2])", [[17, 8]])
    s["MViTPool"] = ("MViTPool([1, 4, 4], [3, 3, 3], [1, 2, 2])", [[17, 8]])
    s["MViTPositionalEncoding"] = ("MViTPositionalEncoding([2, 2], 4)", [[16, 8]])
    s["pad"] = ("pad([0, 0, 1, 2])", [[5, 6, 4]])
    s["sum"] = ("sum(dim=[2, 3], keepdim=True)", [[4, 10, 9]])
    s["grid_sample"] = ("grid_sample", [[3, 8, 8], [5, 6, 2]])
    s["StochasticDepth"] = ("StochasticDepth(0.1, 'row')", [[4, 10, 9]])
    s["LayerScale"] = ("LayerScale(channel_dim=-1)", [[10, 9, 4]])
    return s


SAMPLES = _samples()


def spec_text(node, shapes):
    """A spec whose last node applies `node` to graph inputs of the given shapes."""
    ins = ", ".join(f"x{i}: {list(s)}" for i, s in enumerate(shapes))
    lines = ["cnncalc: 1", f"inputs: {{{ins}}}", "layers:"]
    frm = "[" + ", ".join(f"x{i}" for i in range(len(shapes))) + "]"
    lines += [f"  - {node}:" if "(" in node else f"  - {node}:", f"    from: {frm}", "    name: n"]
    return "\n".join(lines) + "\n"
