"""Layer 1: state/action normalization, action tokenizers (FAST, bins), prompt tokenizer and prompt building.

numpy / scipy / tokenizers only: nothing here imports torch or rclpy.
"""
