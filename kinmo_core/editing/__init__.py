"""Editing existing motion: re-prompt a frame range or body parts, seamless loops, timelines longer than 10 s."""
