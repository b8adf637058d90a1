"""``torch._dynamo.config``: torch 2.13's commonly set flags with its defaults, plain module
attributes a program may read and assign (dlpy never traces, so none changes what runs)."""

cache_size_limit = 8
recompile_limit = 8
accumulated_cache_size_limit = 256
accumulated_recompile_limit = 256
suppress_errors = False
verbose = False
capture_scalar_outputs = False
capture_dynamic_output_shape_ops = False
assume_static_by_default = True
automatic_dynamic_shapes = True
optimize_ddp = True
inline_inbuilt_nn_modules = True
