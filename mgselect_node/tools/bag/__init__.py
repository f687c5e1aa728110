"""Rosbag2 tooling: bag IO (rosbags), CDR conversion, synthetic bags, live and offline replay, recording."""
