"""Contrastive audio-video representation learning on music videos, as a DVC pipeline.

Stage modules (`python -m stages.<name>`) are thin; library modules hold the logic.
"""
