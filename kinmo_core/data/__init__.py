"""Datasets: the HumanML3D layout, procedural corpus synthesis and real mocap import."""
