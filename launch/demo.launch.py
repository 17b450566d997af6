# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Vehicle and edge on one host, optionally replaying a bag: the whole loop for a quick look.

Example: ros2 launch splitee_ros demo.launch.py bag:=artifacts/demo/drive/camera.bag mode:=split
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from splitee_ros.tools.launching import once_active


def generate_launch_description() -> LaunchDescription:
    """Arguments: model, backend, device, namespace, use_sim_time, mode, adaptation, bag, rate."""
    share = FindPackageShare('splitee_ros')
    forwarded = ('model', 'backend', 'device', 'namespace', 'use_sim_time')
    arguments = [
        DeclareLaunchArgument('model', default_value='splitee_demo', description='model package name or folder'),
        DeclareLaunchArgument(
            'backend',
            default_value='onnxruntime',
            description='inference backend of both nodes',
            choices=['torch', 'onnxruntime', 'tensorrt'],
        ),
        DeclareLaunchArgument('device', default_value='cpu', description='cpu | cuda | cuda:N'),
        DeclareLaunchArgument('namespace', default_value='', description='namespace of the vehicle and the edge'),
        DeclareLaunchArgument(
            'use_sim_time',
            default_value='false',
            description='follow /clock (the player publishes it from the bag)',
            choices=['true', 'false'],
        ),
        DeclareLaunchArgument(
            'mode', default_value='split', description='starting mode', choices=['split', 'local', 'offload-image']
        ),
        DeclareLaunchArgument(
            'adaptation',
            default_value='true',
            description='let monitor_node re-tune the head',
            choices=['true', 'false'],
        ),
        DeclareLaunchArgument('bag', default_value='', description='rosbag2 to replay (empty: none)'),
        DeclareLaunchArgument('rate', default_value='1.0', description='bag replay speed'),
    ]
    launch_arguments = {name: LaunchConfiguration(name) for name in forwarded}.items()
    vehicle = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'vehicle.launch.py'])),
        launch_arguments=[
            *launch_arguments,
            ('mode', LaunchConfiguration('mode')),
            ('adaptation', LaunchConfiguration('adaptation')),
        ],
    )
    edge = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'edge.launch.py'])),
        launch_arguments=launch_arguments,
    )
    player = Node(  # the package's own executable: found in a colcon install, as every node here
        package='splitee_ros',
        executable='bag_player',
        arguments=[
            LaunchConfiguration('bag'),
            '--rate',
            LaunchConfiguration('rate'),
            '--delay',
            '0',
            '--wait-for-subscribers',
            '60',
            '--clock',  # /clock from the bag's stamps, for use_sim_time (ignored otherwise)
        ],
        condition=IfCondition(PythonExpression(["'", LaunchConfiguration('bag'), "' != ''"])),
        output='screen',
    )
    # head_node subscribes to the camera once active (its model warm: 20+ s on a busy CPU): play then
    return LaunchDescription([*arguments, vehicle, edge, once_active('head_node', [player])])
