# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Vehicle: head_node (and monitor_node) on the camera topic.

Example: ros2 launch splitee_ros vehicle.launch.py image_topic:=/camera/image_raw backend:=tensorrt device:=cuda
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    """The head (and the monitor) of the vehicle; the arguments are declared below.

    `mode` is the starting mode; with `adaptation` on, monitor_node re-tunes it as the link changes.
    """
    arguments = [
        DeclareLaunchArgument('model', default_value='splitee_demo', description='model package name or folder'),
        DeclareLaunchArgument('backend', default_value='onnxruntime', description='torch | onnxruntime | tensorrt'),
        DeclareLaunchArgument('device', default_value='cpu', description='cpu | cuda | cuda:N'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the nodes and topics'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('splitee_ros'), 'config', 'vehicle.yaml']),
            description='YAML parameters of head_node and monitor_node',
        ),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='follow /clock (bag replay)'),
        DeclareLaunchArgument('image_topic', default_value='/camera/image_raw', description='camera topic'),
        DeclareLaunchArgument('monitor', default_value='true', description='start monitor_node here'),
        DeclareLaunchArgument(
            'mode', default_value='split', description='starting mode: split | local | offload-image'
        ),
        DeclareLaunchArgument(
            'adaptation', default_value='true', description='let monitor_node re-tune the head (false: by hand)'
        ),
    ]
    overrides = {
        'model': LaunchConfiguration('model'),
        'backend': LaunchConfiguration('backend'),
        'device': LaunchConfiguration('device'),
        'use_sim_time': LaunchConfiguration('use_sim_time'),
        'mode': LaunchConfiguration('mode'),
    }
    head = Node(
        package='splitee_ros',
        executable='head_node',
        name='head_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), overrides],
        remappings=[
            ('image', LaunchConfiguration('image_topic')),
            ('image/compressed', [LaunchConfiguration('image_topic'), '/compressed']),
        ],
        output='screen',
        sigterm_timeout='15',  # a node that has loaded a model takes a few seconds to exit
    )
    monitor = Node(
        package='splitee_ros',
        executable='monitor_node',
        name='monitor_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[
            LaunchConfiguration('params_file'),
            {
                'model': LaunchConfiguration('model'),
                'use_sim_time': LaunchConfiguration('use_sim_time'),
                'adaptation_enabled': LaunchConfiguration('adaptation'),
            },
        ],
        condition=IfCondition(LaunchConfiguration('monitor')),
        output='screen',
        sigterm_timeout='15',  # a node that has loaded a model takes a few seconds to exit
    )
    return LaunchDescription([*arguments, head, monitor])
