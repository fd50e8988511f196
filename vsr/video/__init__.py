"""Video I/O with PyAV: decode to planar YUV, encode from it, carry everything else over.

Knows nothing of networks. `reader.VideoReader` yields frames with their timestamps,
`writer.VideoWriter` encodes them into a temporary file and renames it when complete,
`remux.StreamCopier` copies audio and subtitles, `ffmpeg_pipe` is the optional ffmpeg-CLI
encoder backend.
"""
