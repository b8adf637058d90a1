"""``torch.utils.serialization.config``: the process-wide settings of ``dlpy.load`` and
``dlpy.save``, as torch's (set an attribute: ``config.load.mmap = True``).

- ``load.mmap``: what ``load(mmap=None)`` does (False: read the storages);
- ``load.mmap_flags``: ``mmap.MAP_PRIVATE`` (2, the default) or ``mmap.MAP_SHARED`` (set it
  through ``dlpy.serialization.set_default_mmap_options``);
- ``load.endianness``, ``load.calculate_storage_offsets``: torch's, kept for programs that set
  them (dlpy reads the byte order from the file and always finds its storages);
- ``save.storage_alignment``: where a storage's bytes start in the file (a multiple of it,
  64 as torch's), so a mapped storage is aligned for its element type;
- ``save.compute_crc32``, ``save.use_pinned_memory_for_d2h``: torch's, kept (dlpy always writes
  the CRC-32; there is no device memory).
"""

import mmap as _mmap


class load:  # noqa: N801 - torch's name
    mmap: bool = False
    endianness = None
    mmap_flags: int = _mmap.MAP_PRIVATE
    calculate_storage_offsets: bool = False


class save:  # noqa: N801 - torch's name
    compute_crc32: bool = True
    use_pinned_memory_for_d2h: bool = False
    storage_alignment: int = 64
