"""Cell weighers: one module per weigher (reference §7.3).

``nova.cells.weights.all_weighers`` selects :data:`ALL_WEIGHERS`.
"""

__all__ = ['ALL_WEIGHERS']

ALL_WEIGHERS = ('MuteChildWeigher', 'RamByInstanceTypeWeigher',
                'WeightOffsetWeigher',
                # Beyond nova: each adds nothing by default (multiplier 0,
                # or raw weights all equal unless planning / a soft group).
                'VcpuByInstanceTypeWeigher', 'DiskByInstanceTypeWeigher',
                'AvailabilityZoneSpreadWeigher', 'ServerGroupCellWeigher')
