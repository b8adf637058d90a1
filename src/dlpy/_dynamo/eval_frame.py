"""``torch._dynamo.eval_frame``: where torch defines ``OptimizedModule`` (the wrapper
``torch.compile(model)`` returns; dlpy's is dlpy.compiler.OptimizedModule), so libraries that
test ``isinstance(m, torch._dynamo.eval_frame.OptimizedModule)`` unwrap compiled models."""

from dlpy.compiler import OptimizedModule

__all__ = ["OptimizedModule"]
