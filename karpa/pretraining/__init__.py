"""The pretrain stage: aligned views -> a foundation checkpoint, resumable and cached."""
