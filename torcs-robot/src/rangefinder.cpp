/*
 * saferl_scr - a TORCS robot speaking the SCR UDP protocol.
 * Copyright (C) 2026 the saferl authors
 *
 * This program is free software; you can redistribute it and/or modify it under the
 * terms of the GNU General Public License as published by the Free Software
 * Foundation; either version 2 of the License, or (at your option) any later version.
 * See the file COPYING in this folder.
 */

#include "rangefinder.h"

#include <cmath>

namespace {

const double kEps = 1e-9;

enum Exit { EXIT_NONE, EXIT_SIDE, EXIT_NEXT, EXIT_PREV };

struct Candidate {
    double t;
    Exit how;
};

inline void consider(Candidate &best, double t, Exit how) {
    if (t < best.t) {
        best.t = t;
        best.how = how;
    }
}

/* The ray leaves the half-plane {X : n.(X - a) <= 0} at this t (or never). */
inline void halfPlane(Candidate &best, double tEntry, double px, double py, double dx,
                      double dy, double ax, double ay, double nx, double ny, Exit how) {
    double nd = nx * dx + ny * dy;
    if (nd <= kEps) {
        return; /* moving along or into the half-plane: it is never left */
    }
    double t = -(nx * (px - ax) + ny * (py - ay)) / nd;
    consider(best, t < tEntry ? tEntry : t, how);
}

/* Outward normal of the edge from `left` to `right` corner, pointing forward. */
inline void forwardNormal(const t3Dd &left, const t3Dd &right, double &nx, double &ny) {
    double lx = left.x - right.x, ly = left.y - right.y;
    double len = std::sqrt(lx * lx + ly * ly);
    if (len < kEps) {
        nx = ny = 0.0;
        return;
    }
    nx = ly / len;
    ny = -lx / len;
}

}  // namespace

double saferlRayToEdge(tTrackSeg *seg, double px, double py, double dx, double dy,
                       double maxRange) {
    double tEntry = 0.0;
    /* A ray of 200 m crosses at most a few hundred segments; the bound only guards
       against a malformed track. */
    for (int visited = 0; visited < 4096 && seg != 0; ++visited) {
        Candidate best = {INFINITY, EXIT_NONE};
        const t3Dd *v = seg->vertex;
        double nx, ny;

        /* End edge (into the next segment) and start edge (into the previous one). */
        forwardNormal(v[TR_EL], v[TR_ER], nx, ny);
        halfPlane(best, tEntry, px, py, dx, dy, v[TR_EL].x, v[TR_EL].y, nx, ny, EXIT_NEXT);
        forwardNormal(v[TR_SL], v[TR_SR], nx, ny);
        halfPlane(best, tEntry, px, py, dx, dy, v[TR_SL].x, v[TR_SL].y, -nx, -ny, EXIT_PREV);

        if (seg->type == TR_STR) {
            /* Left side from SL to EL (outward normal to its left), right side SR to ER. */
            double ux = v[TR_EL].x - v[TR_SL].x, uy = v[TR_EL].y - v[TR_SL].y;
            double len = std::sqrt(ux * ux + uy * uy);
            if (len > kEps) {
                halfPlane(best, tEntry, px, py, dx, dy, v[TR_SL].x, v[TR_SL].y, -uy / len,
                          ux / len, EXIT_SIDE);
            }
            ux = v[TR_ER].x - v[TR_SR].x;
            uy = v[TR_ER].y - v[TR_SR].y;
            len = std::sqrt(ux * ux + uy * uy);
            if (len > kEps) {
                halfPlane(best, tEntry, px, py, dx, dy, v[TR_SR].x, v[TR_SR].y, uy / len,
                          -ux / len, EXIT_SIDE);
            }
        } else {
            double rIn = seg->radiusl < seg->radiusr ? seg->radiusl : seg->radiusr;
            double rOut = seg->radiusl < seg->radiusr ? seg->radiusr : seg->radiusl;
            double wx = px - seg->center.x, wy = py - seg->center.y;
            double b = wx * dx + wy * dy;
            double ww = wx * wx + wy * wy;
            /* Outer circle: the ray is inside it, and leaves at the larger root. */
            double disc = b * b - (ww - rOut * rOut);
            if (disc >= 0.0) {
                double t = -b + std::sqrt(disc);
                consider(best, t < tEntry ? tEntry : t, EXIT_SIDE);
            }
            /* Inner circle: the ray leaves the track when it enters this circle. */
            disc = b * b - (ww - rIn * rIn);
            if (disc > 0.0) {
                double sq = std::sqrt(disc);
                double t1 = -b - sq, t2 = -b + sq;
                if (t2 > tEntry + kEps) {
                    consider(best, t1 < tEntry ? tEntry : t1, EXIT_SIDE);
                }
            }
        }

        if (best.how == EXIT_NONE || best.t >= maxRange) {
            return maxRange;
        }
        if (best.how == EXIT_SIDE) {
            return best.t;
        }
        tEntry = best.t;
        seg = best.how == EXIT_NEXT ? seg->next : seg->prev;
    }
    return maxRange;
}
