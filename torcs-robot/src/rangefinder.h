/*
 * saferl_scr - a TORCS robot speaking the SCR UDP protocol.
 * Copyright (C) 2026 the saferl authors
 *
 * This program is free software; you can redistribute it and/or modify it under the
 * terms of the GNU General Public License as published by the Free Software
 * Foundation; either version 2 of the License, or (at your option) any later version.
 * See the file COPYING in this folder.
 */

#ifndef SAFERL_SCR_RANGEFINDER_H
#define SAFERL_SCR_RANGEFINDER_H

#include <track.h>

/*
 * Distance from the point (px, py) along the unit direction (dx, dy) to the first
 * crossing of a side of the main track, or maxRange if there is none within maxRange.
 * The point must lie on segment `seg`.  The ray is followed exactly from segment to
 * segment: inside a segment the drivable region is an intersection of a few simple
 * constraints (four half-planes for a straight; two half-planes and two circles for a
 * turn), so the first constraint the ray violates tells whether it leaves through a
 * side (a hit) or into the next or previous segment.
 */
double saferlRayToEdge(tTrackSeg *seg, double px, double py, double dx, double dy,
                       double maxRange);

#endif
