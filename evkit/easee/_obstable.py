"""Easee's observations as data (no logic): one line per id, parsed by :mod:`evkit.easee.catalog`.

Sources are cited per line where one settles a type or a meaning (pyeasee, evcc, Easee's template).
"""

# id | name | type | unit | tags (comma separated) | description (our words).
# "Num" in the type column: template says Double, pyeasee Integer -> decoded as a float number.
# "Bool/Str": pyeasee says Boolean, evcc String (see ``text_tolerant``). "?": no source gives a type.
TABLE = """
1|SelfTestResult|Str||event|result of the charger's self test
2|SelfTestDetails|Str|||details of the self test
5|DebugLog|?|||debug log (pyeasee const.py:9 state_debugLog; no type or meaning published)
10|WifiEvent|Int||event|Wi-Fi event code
11|ChargerOfflineReason|Int||event|why the charger went offline (code)
13|EaseeLinkCommandResponse|Int|||response code of an Easee Link command
14|EaseeLinkDataReceived|Str|||data received over Easee Link
15|LocalPreAuthorizeEnabled|Bool||event|charging may start before authorization completes
16|LocalAuthorizeOfflineEnabled|Bool||event|local authorization allowed while offline
17|AllowOfflineTxForUnknownId|Bool||event|offline sessions allowed for unknown RFID tags
18|ErraticEVMaxToggles|Int|||pilot toggles tolerated before an EV counts as erratic
19|BackplateType|Int|||type of the back plate
20|SiteStructure|Str||boot|site structure description (JSON text)
21|DetectedPowerGridType|Int||boot|power grid type the charger detected (PowerGridType)
22|CircuitMaxCurrentP1|Dbl|A||circuit maximum current, phase 1
23|CircuitMaxCurrentP2|Dbl|A||circuit maximum current, phase 2
24|CircuitMaxCurrentP3|Dbl|A||circuit maximum current, phase 3
25|Location|Pos||event|position of the charger (latitude, longitude)
26|SiteIDString|Str||event|site identifier as text
27|SiteIDNumeric|Int||event|site identifier as a number
28|RfidAuthTimeoutSec|Int|s||seconds an RFID authorization stays valid
30|LockCablePermanently|Bool|||the type 2 cable is locked permanently
31|IsEnabled|Bool|||the charger is enabled
32|TemperatureMonitorState|Int|||temperature monitor state (0 off, -1 monitoring, 1 active)
33|CircuitSequenceNumber|Int|||position of the charger on its circuit
34|SinglePhaseNumber|Int|||phase used when charging on one phase
35|Enable3Phases_DEPRECATED|Bool|||deprecated three-phase switch
36|WiFiSSID|Str|||Wi-Fi network the charger uses
37|EnableIdleCurrent|Bool||event|offer current while the car is idle
38|PhaseMode|Int|||phase mode (1 locked 1-phase, 2 auto, 3 locked 3-phase)
39|ForcedThreePhaseOnITWithGndFault|Bool|||force three phases on IT grids with a ground fault
40|LedStripBrightness|Int|%||brightness of the LED strip
41|LocalAuthorizationRequired|Bool||event|local (RFID) authorization required
42|AuthorizationRequired|Bool|||authorization required to charge
43|RemoteStartRequired|Bool||event|charging waits for a remote start
44|SmartButtonEnabled|Bool|||the smart button is enabled
45|OfflineChargingMode|Int|||what the charger does when offline (OfflineChargingMode)
46|LEDMode|Int||event|LED pattern code
47|MaxChargerCurrent|Dbl|A||non-volatile maximum current the charger offers the car
48|DynamicChargerCurrent|Dbl|A||volatile maximum current the charger offers the car
50|MaxCurrentOfflineFallback_P1|Int|A|event|circuit current on phase 1 while offline
51|MaxCurrentOfflineFallback_P2|Int|A|event|circuit current on phase 2 while offline
52|MaxCurrentOfflineFallback_P3|Int|A|event|circuit current on phase 3 while offline
54|ReleaseCableAtPowerOff|Bool/Str|||release the cable when power is lost (pyeasee: Boolean, evcc: String)
56|ListenToControlPulse|Bool||event|the charger follows control pulses
57|ControlPulseRTT|Int|ms||round trip time of control pulses
60|ChargingSessionSigned|Str||json|signed charging session (JSON text)
62|ChargingSchedule|Str||json|charging schedule (JSON text)
65|PairedEqualizer|Str|||serial of the paired Equalizer
68|WiFiAPEnabled|Bool|||the charger's own Wi-Fi access point is on
69|PairedUserIDToken|Str||event|RFID token read in pairing mode
70|CircuitTotalAllocatedPhaseConductorCurrent_L1|Dbl|A|master|current allocated on the circuit, L1
71|CircuitTotalAllocatedPhaseConductorCurrent_L2|Dbl|A|master|current allocated on the circuit, L2
72|CircuitTotalAllocatedPhaseConductorCurrent_L3|Dbl|A|master|current allocated on the circuit, L3
73|CircuitTotalPhaseConductorCurrent_L1|Dbl|A|master|current drawn on the circuit, L1
74|CircuitTotalPhaseConductorCurrent_L2|Dbl|A|master|current drawn on the circuit, L2
75|CircuitTotalPhaseConductorCurrent_L3|Dbl|A|master|current drawn on the circuit, L3
76|NumberOfCarsConnected|Int|||cars plugged in on the circuit
77|NumberOfCarsCharging|Int|||cars charging on the circuit
78|NumberOfCarsInQueue|Int|||cars waiting for current on the circuit
79|NumberOfCarsFullyCharged|Int|||fully charged cars on the circuit
80|SoftwareRelease|Int||boot|firmware release number
81|ICCID|Str|||SIM card id
82|ModemFwId|Str|||modem firmware id
83|OTAErrorCode|Int||event|firmware update error code
84|MobileNetworkOperator|Str||pollable|mobile network operator
89|RebootReason|Int|||why the charger rebooted (bit mask)
90|PowerPCBVersion|Int|||power board version
91|ComPCBVersion|Int|||communication board version
96|ReasonForNoCurrent|Int|||why a connected car gets no (or limited) current (ReasonForNoCurrent)
97|LoadBalancingNumberOfConnectedChargers|Int||master|chargers in the load-balancing group
98|UDPNumOfConnectedNodes|Int||master|nodes connected over UDP
99|LocalConnection|Int|||how a secondary charger reaches its master
100|PilotMode|Str||event|control pilot state letter (A-F)
101|CarConnected_DEPRECATED|Bool|||deprecated car-connected flag
102|SmartCharging|Bool||event|smart charging is on
103|CableLocked|Bool||event|the cable is locked
104|CableRating|Num|A|event|current rating read from the cable
105|PilotHigh|Num|mV|debug|control pilot high level (live: 6051 in state C, evcc #32721)
106|PilotLow|Num|mV|debug|control pilot low level (live: -11673, evcc #32721)
107|BackPlateID|Str||boot|back plate id
108|UserIDTokenReversed|Str||event|RFID token as the charger sends it, characters in reverse order
109|ChargerOpMode|Int||event|operating mode of the charger (OpMode)
110|OutputPhase|Int||event|phases in use towards the car (OutputPhase)
111|DynamicCircuitCurrentP1|Dbl|A|event|volatile circuit limit, phase 1
112|DynamicCircuitCurrentP2|Dbl|A|event|volatile circuit limit, phase 2
113|DynamicCircuitCurrentP3|Dbl|A|event|volatile circuit limit, phase 3
114|OutputCurrent|Dbl|A||current offered to the car
115|DeratedCurrent|Dbl|A||current after thermal derating
116|DeratingActive|Bool||event|thermal derating is active
117|DebugString|Str|||debug text
118|ErrorString|Str||event|error text
119|ErrorCode|Int||event|error code
120|TotalPower|Dbl|kW|telemetry|total power delivered to the car
121|SessionEnergy|Dbl|kWh|telemetry|energy of the current or last session
122|EnergyPerHour|Dbl|kWh|event|energy delivered in the past hour
123|LegacyEvStatus|Int|||legacy EV detection (0 no, 1 legacy, 2 reviving)
124|LifetimeEnergy|Dbl|kWh||lifetime energy meter, sent about once an hour and at session starts
125|LifetimeRelaySwitches|Int|||relay switch count over the lifetime
126|LifetimeHours|Int|h||operating hours over the lifetime
127|DynamicCurrentOfflineFallback_DEPRICATED|Int||event|deprecated offline fallback current
128|UserIDToken|Str||event|RFID token read by the charger
129|ChargingSession|Str||json,event|finished charging session (JSON text)
130|CellRSSI|Int|dBm|telemetry|cellular signal strength
131|CellRAT|Int||event|cellular radio access technology
132|WiFiRSSI|Int|dBm|telemetry|Wi-Fi signal strength
133|CellAddress|Str||debug|cellular IP address
134|WiFiAddress|Str||debug|Wi-Fi IP address
135|WiFiType|Str||debug|Wi-Fi standard in use
136|LocalRSSI|Int|dBm|telemetry|signal strength of the local radio link
137|MasterBackPlateID|Str||event|back plate id of the circuit master
138|LocalTxPower|Int|dBm|telemetry|transmit power of the local radio
139|LocalState|Str||event|state of the local radio link
140|FoundWiFi|Str||event|Wi-Fi networks found
141|ChargerRAT|Int|||link in use (0 cellular, 1 Wi-Fi)
142|CellularInterfaceErrorCount|Int||poll|errors of the cellular interface
143|CellularInterfaceResetCount|Int||poll|resets of the cellular interface
144|WifiInterfaceErrorCount|Int||poll|errors of the Wi-Fi interface
145|WifiInterfaceResetCount|Int||poll|resets of the Wi-Fi interface
146|LocalNodeType|Int|||role in the local network (LocalNodeType)
147|LocalRadioChannel|Int|||local radio channel
148|LocalShortAddress|Int|||local radio short address
149|LocalParentAddrOrNumOfNodes|Int|||parent address, or node count on the master
150|TempMax|Num|°C|telemetry|highest temperature of all sensors
151|TempAmbientPowerBoard|Num|°C|event|power board ambient temperature
152|TempInputT2|Num|°C|event|temperature at input T2
153|TempInputT3|Num|°C|event|temperature at input T3
154|TempInputT4|Num|°C|event|temperature at input T4
155|TempInputT5|Num|°C|event|temperature at input T5
156|Observation156|?|||unnamed; sent by live chargers (evcc #32721: 170), meaning unpublished
157|Observation157|?|||unnamed; sent by live chargers (evcc #32721: 0), meaning unpublished
160|TempOutputN|Num|°C|event|temperature at output N
161|TempOutputL1|Num|°C|event|temperature at output L1
162|TempOutputL2|Num|°C|event|temperature at output L2
163|TempOutputL3|Num|°C|event|temperature at output L3
164|TempRelayN|Num|°C||temperature of relay N
165|TempRelayL|Num|°C||temperature of relay L
166|TempAmbientPowerBoardTop|Num|°C||temperature at the top of the power board
170|TempAmbient|Num|°C|event|ambient temperature
171|LightAmbient|Int|%|debug|ambient light
172|IntRelHumidity|Int|%|event|relative humidity inside the charger
173|BackPlateLocked|Bool||event|the back plate is locked
174|CurrentMotor|Dbl||debug|lock motor current
175|BackPlateHallSensor|Int|mV||back plate hall sensor
182|InCurrent_T2|Dbl|A|telemetry|RMS current at input T2 (calculated)
183|InCurrent_T3|Dbl|A|telemetry|RMS current at input T3
184|InCurrent_T4|Dbl|A|telemetry|RMS current at input T4
185|InCurrent_T5|Dbl|A|telemetry|RMS current at input T5
190|InVolt_T1_T2|Dbl|V|telemetry|RMS voltage between inputs T1 and T2
191|InVolt_T1_T3|Dbl|V|telemetry|RMS voltage between inputs T1 and T3
192|InVolt_T1_T4|Dbl|V|telemetry|RMS voltage between inputs T1 and T4
193|InVolt_T1_T5|Dbl|V|telemetry|RMS voltage between inputs T1 and T5
194|InVolt_T2_T3|Dbl|V|telemetry|RMS voltage between inputs T2 and T3
195|InVolt_T2_T4|Dbl|V|telemetry|RMS voltage between inputs T2 and T4
196|InVolt_T2_T5|Dbl|V|telemetry|RMS voltage between inputs T2 and T5
197|InVolt_T3_T4|Dbl|V|telemetry|RMS voltage between inputs T3 and T4
198|InVolt_T3_T5|Dbl|V|telemetry|RMS voltage between inputs T3 and T5
199|InVolt_T4_T5|Dbl|V|telemetry|RMS voltage between inputs T4 and T5
200|NominalVoltage|Int|V||nominal grid voltage
202|OutVoltPin1_2|Dbl|V|telemetry|output voltage between pins 1 and 2
203|OutVoltPin1_3|Dbl|V|telemetry|output voltage between pins 1 and 3
204|OutVoltPin1_4|Dbl|V|telemetry|output voltage between pins 1 and 4
205|OutVoltPin1_5|Dbl|V|telemetry|output voltage between pins 1 and 5
206|OutVoltPin2_3|Dbl|V||output voltage between pins 2 and 3
210|VoltLevel33|Num|V|telemetry|internal 3.3 V supply level
211|VoltLevel5|Num|V|telemetry|internal 5 V supply level
212|VoltLevel12|Num|V|telemetry|internal 12 V supply level
219|FatalErrorCode|Int||event|fatal error code
220|LTE_RSRP|Int|dBm||LTE reference signal received power
221|LTE_SINR|Int|dB||LTE signal to interference and noise ratio
222|LTE_RSRQ|Int|dB||LTE reference signal received quality
223|ChargingSessionStart|Str||json,event|charging session started (JSON text)
230|EqAvailableCurrentP1|Dbl|A||current the Equalizer allows on phase 1
231|EqAvailableCurrentP2|Dbl|A||current the Equalizer allows on phase 2
232|EqAvailableCurrentP3|Dbl|A||current the Equalizer allows on phase 3
240|DiagnosticsString|Str|||diagnostics text
241|WiFiMACAddress|Str|||MAC address of the Wi-Fi interface
250|ConnectedToCloud|Bool|||the charger is connected to the cloud
251|CloudDisconnectReason|Str|||why the charger lost the cloud connection
"""
