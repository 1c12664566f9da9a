/*
 * saferl_scr - a TORCS robot speaking the SCR UDP protocol.
 * Copyright (C) 2026 the saferl authors
 *
 * This program is free software; you can redistribute it and/or modify it under the
 * terms of the GNU General Public License as published by the Free Software
 * Foundation; either version 2 of the License, or (at your option) any later version.
 * See the file COPYING in this folder.
 *
 * Each of the module's ten drivers (index i) is a UDP server on 127.0.0.1, port
 * SAFERL_SCR_PORT + i (default 3001 + i).  Protocol, as described by the Simulated Car
 * Racing championship:
 *   client -> robot  "<id>(init a1 ... a19)"   range-finder angles in degrees
 *   robot  -> client "***identified***"
 *   robot  -> client "(angle x)(curLapTime x)...(z x)" once per 20 ms of simulated time
 *   client -> robot  "(accel x)(brake x)(gear n)(steer x)(clutch x)(focus x)(meta n)"
 *   robot  -> client "***restart***" (after meta 1) or "***shutdown***" (race over)
 * The robot waits for the client's answer at every step, so a run is deterministic.
 * It sends nothing during the start countdown: the first sensor message is at t = 0.
 * Silence longer than SAFERL_SCR_TIMEOUT seconds (default 30) ends the TORCS process,
 * so an abandoned simulator never lingers.  TORCS 1.3.7 gives a robot no way to restart
 * a race, so meta 1 answers ***restart*** and ends the process; clients relaunch.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <car.h>
#include <raceman.h>
#include <robot.h>
#include <robottools.h>
#include <tgf.h>
#include <track.h>

#include "rangefinder.h"

namespace {

const int kDrivers = 10;
const int kTrackSensors = 19;
const int kOpponentSectors = 36;
const int kFocusSensors = 5;
const double kRange = 200.0;
const double kDeg = M_PI / 180.0;

struct Driver {
    int sock = -1;
    int port = 0;
    bool identified = false;
    sockaddr_in client{};
    double angles[kTrackSensors];
    /* Last action received, kept when a field is missing. */
    double accel = 0.0, brake = 0.0, steer = 0.0, clutch = 0.0, focus = 0.0;
    int gear = 0, meta = 0;
    tTrack *track = nullptr;
};

Driver drivers[kDrivers];

double timeoutSeconds() {
    const char *text = getenv("SAFERL_SCR_TIMEOUT");
    double value = text ? atof(text) : 30.0;
    return value > 0.0 ? value : 30.0;
}

int basePort() {
    const char *text = getenv("SAFERL_SCR_PORT");
    int value = text ? atoi(text) : 3001;
    return value > 0 && value < 65526 ? value : 3001;
}

[[noreturn]] void die(int index, const char *what) {
    fprintf(stderr, "saferl_scr %d: %s; ending TORCS\n", index, what);
    fflush(stderr);
    _exit(3);
}

void sendText(Driver &d, const char *text) {
    sendto(d.sock, text, strlen(text), 0, reinterpret_cast<sockaddr *>(&d.client),
           sizeof(d.client));
}

/* Wait for one datagram (NUL-terminated into buf); false on timeout. */
bool receive(Driver &d, char *buf, size_t size, sockaddr_in *from, double seconds) {
    pollfd pfd{d.sock, POLLIN, 0};
    int waitMs = static_cast<int>(seconds * 1000.0);
    for (;;) {
        int ready = poll(&pfd, 1, waitMs);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return false;
        }
        socklen_t len = sizeof(*from);
        ssize_t n = recvfrom(d.sock, buf, size - 1, 0, reinterpret_cast<sockaddr *>(from), &len);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNREFUSED) {
                continue;
            }
            return false;
        }
        buf[n] = '\0';
        return true;
    }
}

/* Parse "<id>(init a1 ... a19)"; missing angles keep the default 10-degree fan. */
bool parseInit(const char *msg, double *angles) {
    const char *p = strstr(msg, "(init");
    if (!p) {
        return false;
    }
    for (int i = 0; i < kTrackSensors; ++i) {
        angles[i] = -90.0 + 10.0 * i;
    }
    p += 5;
    for (int i = 0; i < kTrackSensors; ++i) {
        char *end;
        double value = strtod(p, &end);
        if (end == p) {
            break;
        }
        angles[i] = value;
        p = end;
    }
    return true;
}

/* Read "(name v)" pairs of an action message into the driver's last action. */
void parseAction(Driver &d, const char *msg) {
    const char *p = msg;
    while ((p = strchr(p, '(')) != nullptr) {
        ++p;
        char name[16];
        int used = 0;
        double value;
        if (sscanf(p, "%15s %lf%n", name, &value, &used) < 2) {
            continue;
        }
        if (!strcmp(name, "accel")) d.accel = value;
        else if (!strcmp(name, "brake")) d.brake = value;
        else if (!strcmp(name, "gear")) d.gear = static_cast<int>(lround(value));
        else if (!strcmp(name, "steer")) d.steer = value;
        else if (!strcmp(name, "clutch")) d.clutch = value;
        else if (!strcmp(name, "focus")) d.focus = value;
        else if (!strcmp(name, "meta")) d.meta = static_cast<int>(lround(value));
    }
}

double clamp(double x, double lo, double hi) {
    if (!(x >= lo)) return lo; /* also maps NaN to lo */
    return x > hi ? hi : x;
}

void openSocket(int index) {
    Driver &d = drivers[index];
    if (d.sock >= 0) {
        return;
    }
    d.port = basePort() + index;
    d.sock = socket(AF_INET, SOCK_DGRAM, 0);
    if (d.sock < 0) {
        die(index, "cannot create a UDP socket");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(d.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(d.sock, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) < 0) {
        char what[96];
        snprintf(what, sizeof(what), "cannot bind UDP port %d (%s)", d.port, strerror(errno));
        die(index, what);
    }
}

void identify(int index) {
    Driver &d = drivers[index];
    char buf[4096];
    sockaddr_in from{};
    double left = timeoutSeconds();
    while (!d.identified) {
        if (!receive(d, buf, sizeof(buf), &from, left)) {
            die(index, "no client identified itself in time");
        }
        if (parseInit(buf, d.angles)) {
            d.client = from;
            d.identified = true;
            sendText(d, "***identified***");
        }
    }
}

void computeTrack(tCarElt *car, const double *angles, int count, double *out) {
    tTrackSeg *seg = car->_trkPos.seg;
    double half = seg->width / 2.0;
    if (std::fabs(car->_trkPos.toMiddle) > half) {
        for (int i = 0; i < count; ++i) out[i] = -1.0;
        return;
    }
    for (int i = 0; i < count; ++i) {
        /* Positive angles turn clockwise from the car's heading (to its right). */
        double a = car->_yaw - angles[i] * kDeg;
        out[i] = saferlRayToEdge(seg, car->_pos_X, car->_pos_Y, std::cos(a), std::sin(a), kRange);
    }
}

void computeOpponents(tCarElt *car, tSituation *s, double *out) {
    for (int i = 0; i < kOpponentSectors; ++i) out[i] = kRange;
    for (int i = 0; i < s->_ncars; ++i) {
        tCarElt *other = s->cars[i];
        if (other == car || (other->_state & RM_CAR_STATE_NO_SIMU)) continue;
        double rx = other->_pos_X - car->_pos_X, ry = other->_pos_Y - car->_pos_Y;
        double dist = std::sqrt(rx * rx + ry * ry);
        if (dist >= kRange) continue;
        double rel = -(std::atan2(ry, rx) - car->_yaw); /* clockwise from the heading */
        NORM_PI_PI(rel);
        int sector = static_cast<int>(std::floor((rel + M_PI) / (2.0 * M_PI) * kOpponentSectors));
        if (sector < 0) sector = 0;
        if (sector >= kOpponentSectors) sector = kOpponentSectors - 1;
        if (dist < out[sector]) out[sector] = dist;
    }
}

int appendList(char *buf, int size, const char *name, const double *values, int count) {
    int n = snprintf(buf, size, "(%s", name);
    for (int i = 0; i < count && n < size; ++i) {
        n += snprintf(buf + n, size - n, " %.9g", values[i]);
    }
    if (n < size) n += snprintf(buf + n, size - n, ")");
    return n;
}

int appendOne(char *buf, int size, const char *name, double value) {
    return snprintf(buf, size, "(%s %.9g)", name, value);
}

void sensorMessage(int index, tCarElt *car, tSituation *s, char *buf, int size) {
    Driver &d = drivers[index];
    double angle = RtTrackSideTgAngleL(&car->_trkPos) - car->_yaw;
    NORM_PI_PI(angle);
    double track[kTrackSensors], opponents[kOpponentSectors], focus[kFocusSensors];
    double spin[4];
    computeTrack(car, d.angles, kTrackSensors, track);
    computeOpponents(car, s, opponents);
    if (d.focus >= -90.0 && d.focus <= 90.0) {
        double fan[kFocusSensors];
        for (int i = 0; i < kFocusSensors; ++i) fan[i] = d.focus + (i - 2);
        computeTrack(car, fan, kFocusSensors, focus);
    } else {
        for (int i = 0; i < kFocusSensors; ++i) focus[i] = -1.0;
    }
    for (int i = 0; i < 4; ++i) spin[i] = car->_wheelSpinVel(i);
    double halfWidth = car->_trkPos.seg->width / 2.0;
    int n = 0;
    n += appendOne(buf + n, size - n, "angle", angle);
    n += appendOne(buf + n, size - n, "curLapTime", car->_curLapTime);
    n += appendOne(buf + n, size - n, "damage", car->_dammage);
    n += appendOne(buf + n, size - n, "distFromStart", car->_distFromStartLine);
    n += appendOne(buf + n, size - n, "distRaced", car->_distRaced);
    n += appendList(buf + n, size - n, "focus", focus, kFocusSensors);
    n += appendOne(buf + n, size - n, "fuel", car->_fuel);
    n += appendOne(buf + n, size - n, "gear", car->_gear);
    n += appendOne(buf + n, size - n, "lastLapTime", car->_lastLapTime);
    n += appendList(buf + n, size - n, "opponents", opponents, kOpponentSectors);
    n += appendOne(buf + n, size - n, "racePos", car->_pos);
    /* TORCS keeps engine speed in rad/s; SCR reports it scaled by 10. */
    n += appendOne(buf + n, size - n, "rpm", car->_enginerpm * 10.0);
    /* Speeds in km/h, as in SCR. */
    n += appendOne(buf + n, size - n, "speedX", car->_speed_x * 3.6);
    n += appendOne(buf + n, size - n, "speedY", car->_speed_y * 3.6);
    n += appendOne(buf + n, size - n, "speedZ", car->_speed_z * 3.6);
    n += appendList(buf + n, size - n, "track", track, kTrackSensors);
    n += appendOne(buf + n, size - n, "trackPos", car->_trkPos.toMiddle / halfWidth);
    n += appendList(buf + n, size - n, "wheelSpinVel", spin, 4);
    appendOne(buf + n, size - n, "z", car->_pos_Z - RtTrackHeightL(&car->_trkPos));
}

void newTrack(int index, tTrack *track, void *, void **carParmHandle, tSituation *) {
    drivers[index].track = track;
    *carParmHandle = nullptr;
    openSocket(index);
}

void newRace(int index, tCarElt *, tSituation *) { identify(index); }

void drive(int index, tCarElt *car, tSituation *s) {
    Driver &d = drivers[index];
    memset(&car->ctrl, 0, sizeof(tCarCtrl));
    if (s->currentTime < 0.0) {
        car->_brakeCmd = 1.0; /* hold still through the countdown */
        car->_gearCmd = 0;
        return;
    }
    char buf[4096];
    sensorMessage(index, car, s, buf, sizeof(buf));
    sendText(d, buf);
    sockaddr_in from{};
    for (;;) {
        if (!receive(d, buf, sizeof(buf), &from, timeoutSeconds())) {
            die(index, "the client fell silent");
        }
        if (strstr(buf, "(init")) {
            /* A client that missed ***identified*** retries its handshake. */
            d.client = from;
            sendText(d, "***identified***");
            sensorMessage(index, car, s, buf, sizeof(buf));
            sendText(d, buf);
            continue;
        }
        break;
    }
    parseAction(d, buf);
    if (d.meta == 1) {
        sendText(d, "***restart***");
        fflush(stdout);
        _exit(0);
    }
    car->_accelCmd = static_cast<tdble>(clamp(d.accel, 0.0, 1.0));
    car->_brakeCmd = static_cast<tdble>(clamp(d.brake, 0.0, 1.0));
    car->_steerCmd = static_cast<tdble>(clamp(d.steer, -1.0, 1.0));
    car->_clutchCmd = static_cast<tdble>(clamp(d.clutch, 0.0, 1.0));
    int gear = d.gear;
    if (gear < -1) gear = -1;
    if (gear > car->_gearNb - 1 - car->_gearOffset) gear = car->_gearNb - 1 - car->_gearOffset;
    car->_gearCmd = gear;
}

int pitCommand(int, tCarElt *, tSituation *) { return ROB_PIT_IM; }

void endRace(int index, tCarElt *, tSituation *) {
    Driver &d = drivers[index];
    if (d.identified) {
        sendText(d, "***shutdown***");
        d.identified = false;
    }
}

void shutdownDriver(int index) {
    Driver &d = drivers[index];
    if (d.identified) {
        sendText(d, "***shutdown***");
        d.identified = false;
    }
    if (d.sock >= 0) {
        close(d.sock);
        d.sock = -1;
    }
}

int initDriver(int index, void *pt) {
    tRobotItf *itf = static_cast<tRobotItf *>(pt);
    itf->rbNewTrack = newTrack;
    itf->rbNewRace = newRace;
    itf->rbDrive = drive;
    itf->rbPitCmd = pitCommand;
    itf->rbEndRace = endRace;
    itf->rbShutdown = shutdownDriver;
    itf->index = index;
    return 0;
}

}  // namespace

/* Module entry point: TORCS looks up a function named like the library. */
extern "C" int saferl_scr(tModInfo *modInfo) {
    memset(modInfo, 0, kDrivers * sizeof(tModInfo));
    for (int i = 0; i < kDrivers; ++i) {
        /* TORCS frees name and desc when it unloads the module: heap copies. */
        char name[32];
        snprintf(name, sizeof(name), "saferl_scr %d", i);
        modInfo[i].name = strdup(name);
        modInfo[i].desc = strdup(name);
        modInfo[i].fctInit = initDriver;
        modInfo[i].gfId = ROB_IDENT;
        modInfo[i].index = i;
    }
    return 0;
}
