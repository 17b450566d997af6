# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Vehicle: head_node (and monitor_node) on the vehicle's cameras.

Example: ros2 launch splitee_ros vehicle.launch.py namespace:=veh_3 backend:=tensorrt device:=cuda \
    cameras:="[/cam_front/image_raw, /cam_rear/image_raw]"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from splitee_ros.tools.launching import managed


def generate_launch_description() -> LaunchDescription:
    """The head (and the monitor) of the vehicle; the arguments are declared below.

    `mode` is the starting mode; with `adaptation` on, monitor_node re-tunes it as the link changes.
    """
    arguments = [
        DeclareLaunchArgument('model', default_value='splitee_demo', description='model package name or folder'),
        DeclareLaunchArgument(
            'backend',
            default_value='onnxruntime',
            description='inference backend',
            choices=['torch', 'onnxruntime', 'tensorrt'],
        ),
        DeclareLaunchArgument('device', default_value='cpu', description='cpu | cuda | cuda:N'),
        DeclareLaunchArgument(
            'namespace', default_value='', description="the vehicle's namespace (a fleet's edge serves it by this name)"
        ),
        DeclareLaunchArgument(
            'head_params_file',
            default_value=PathJoinSubstitution([FindPackageShare('splitee_ros'), 'config', 'head_node.yaml']),
            description='YAML parameters of head_node',
        ),
        DeclareLaunchArgument(
            'monitor_params_file',
            default_value=PathJoinSubstitution([FindPackageShare('splitee_ros'), 'config', 'monitor_node.yaml']),
            description='YAML parameters of monitor_node',
        ),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', description='follow /clock (bag replay)', choices=['true', 'false']
        ),
        DeclareLaunchArgument(
            'cameras',
            default_value='[camera/image_raw]',
            description='image topics of the cameras, a YAML list, relative to the namespace (<topic>/compressed)',
        ),
        DeclareLaunchArgument(
            'monitor', default_value='true', description='start monitor_node here', choices=['true', 'false']
        ),
        DeclareLaunchArgument(
            'mode', default_value='split', description='starting mode', choices=['split', 'local', 'offload-image']
        ),
        DeclareLaunchArgument(
            'autostart',
            default_value='true',
            description='configure and activate head_node (false: `ros2 lifecycle set` does)',
            choices=['true', 'false'],
        ),
        DeclareLaunchArgument(
            'adaptation',
            default_value='true',
            description='let monitor_node re-tune the head (false: by hand)',
            choices=['true', 'false'],
        ),
    ]
    overrides = {
        'model': LaunchConfiguration('model'),
        'backend': LaunchConfiguration('backend'),
        'device': LaunchConfiguration('device'),
        'use_sim_time': LaunchConfiguration('use_sim_time'),
        'mode': LaunchConfiguration('mode'),
        'image_topics': ParameterValue(LaunchConfiguration('cameras'), value_type=list[str]),
    }
    head = LifecycleNode(
        package='splitee_ros',
        executable='head_node',
        name='head_node',
        ros_arguments=['--enclave', '/splitee/head_node'],  # its SROS2 enclave (config/security), used when secured
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('head_params_file'), overrides],
        output='screen',
        sigterm_timeout='15',  # a node that has loaded a model takes a few seconds to exit
    )
    monitor = Node(
        package='splitee_ros',
        executable='monitor_node',
        name='monitor_node',
        ros_arguments=['--enclave', '/splitee/monitor_node'],  # its SROS2 enclave (config/security), used when secured
        namespace=LaunchConfiguration('namespace'),
        parameters=[
            LaunchConfiguration('monitor_params_file'),
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
    return LaunchDescription([*arguments, *managed(head, LaunchConfiguration('autostart')), monitor])
