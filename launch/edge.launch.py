# Copyright 2026 splitee_ros developers
# SPDX-License-Identifier: Apache-2.0
"""Edge server: one tail_node for a fleet of vehicles.

Example: ros2 launch splitee_ros edge.launch.py backend:=tensorrt device:=cuda vehicles:="[veh_1, veh_2, veh_3]"
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from splitee_ros.tools.launching import managed


def generate_launch_description() -> LaunchDescription:
    """The edge's tail_node for the vehicles named (or discovered); the arguments are declared below."""
    arguments = [
        DeclareLaunchArgument('model', default_value='splitee_demo', description='model package name or folder'),
        DeclareLaunchArgument(
            'backend',
            default_value='onnxruntime',
            description='inference backend in this process, or a serving engine (ray, triton: engine_address)',
            choices=['torch', 'onnxruntime', 'tensorrt', 'ray', 'triton'],
        ),
        DeclareLaunchArgument('device', default_value='cpu', description='cpu | cuda | cuda:N'),
        DeclareLaunchArgument(
            'engine_address',
            default_value='',
            description='ray: the cluster address (empty: auto); triton: host:port of its gRPC endpoint',
        ),
        DeclareLaunchArgument('namespace', default_value='', description="the edge's namespace"),
        DeclareLaunchArgument(
            'vehicles',
            default_value="['']",
            description="the vehicles' namespaces, a YAML list ('': the edge's own namespace, one vehicle)",
        ),
        DeclareLaunchArgument(
            'discover_vehicles',
            default_value='false',
            choices=['true', 'false'],
            description='also serve any namespace whose splitee/bottleneck topic appears',
        ),
        DeclareLaunchArgument('max_batch', default_value='8', description='most requests run as one batch'),
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution([FindPackageShare('splitee_ros'), 'config', 'tail_node.yaml']),
            description='YAML parameters of tail_node',
        ),
        DeclareLaunchArgument(
            'autostart',
            default_value='true',
            description='configure and activate tail_node (false: `ros2 lifecycle set` does)',
            choices=['true', 'false'],
        ),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false', description='follow /clock (bag replay)', choices=['true', 'false']
        ),
    ]
    tail = LifecycleNode(
        package='splitee_ros',
        executable='tail_node',
        name='tail_node',
        ros_arguments=['--enclave', '/splitee/tail_node'],  # its SROS2 enclave (config/security), used when secured
        namespace=LaunchConfiguration('namespace'),
        parameters=[
            LaunchConfiguration('params_file'),
            {
                'model': LaunchConfiguration('model'),
                'backend': LaunchConfiguration('backend'),
                'device': LaunchConfiguration('device'),
                'engine_address': ParameterValue(LaunchConfiguration('engine_address'), value_type=str),
                'vehicles': ParameterValue(LaunchConfiguration('vehicles'), value_type=list[str]),
                'discover_vehicles': LaunchConfiguration('discover_vehicles'),
                'max_batch': ParameterValue(LaunchConfiguration('max_batch'), value_type=int),
                'use_sim_time': LaunchConfiguration('use_sim_time'),
            },
        ],
        output='screen',
        sigterm_timeout='15',  # a node that has loaded a model takes a few seconds to exit
    )
    return LaunchDescription([*arguments, *managed(tail, LaunchConfiguration('autostart'))])
