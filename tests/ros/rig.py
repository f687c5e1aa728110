"""The test-side ROS 2 rig: kept as a name for the node tests; the harness is mgselect_node.testing.client."""

from mgselect_node.testing.client import (
                                          CAMERA_HZ,
                                          JOINTS_HZ,
                                          POLL_S,
                                          REPORT_QOS,
                                          SENSOR_QOS,
                                          SERVICE_TIMEOUT_S,
                                          TRANSITION_TIMEOUT_S,
                                          Received,
                                          WaitTimeout,
                                          now_s,
)
from mgselect_node.testing.client import NodeClient as Rig

__all__ = ["CAMERA_HZ", "JOINTS_HZ", "POLL_S", "REPORT_QOS", "SENSOR_QOS", "SERVICE_TIMEOUT_S",
           "TRANSITION_TIMEOUT_S", "Received", "Rig", "WaitTimeout", "now_s"]
