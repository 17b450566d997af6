# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Edge server: tail_node.

Example: ros2 launch splitee_ros edge.launch.py backend:=tensorrt device:=cuda
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """Arguments: model, backend, device, namespace, params_file, use_sim_time."""
    arguments = [
        DeclareLaunchArgument('model', default_value='splitee_demo', description='model package name or folder'),
        DeclareLaunchArgument('backend', default_value='onnxruntime', description='torch | onnxruntime | tensorrt'),
        DeclareLaunchArgument('device', default_value='cpu', description='cpu | cuda | cuda:N'),
        DeclareLaunchArgument('namespace', default_value='', description="namespace (the vehicle's)"),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('splitee_ros'), 'config', 'edge.yaml']),
            description='YAML parameters of tail_node',
        ),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='follow /clock (bag replay)'),
    ]
    tail = Node(
        package='splitee_ros',
        executable='tail_node',
        name='tail_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[
            LaunchConfiguration('params_file'),
            {
                'model': LaunchConfiguration('model'),
                'backend': LaunchConfiguration('backend'),
                'device': LaunchConfiguration('device'),
                'use_sim_time': LaunchConfiguration('use_sim_time'),
            },
        ],
        output='screen',
        sigterm_timeout='15',  # a node that has loaded a model takes a few seconds to exit
    )
    return LaunchDescription([*arguments, tail])
