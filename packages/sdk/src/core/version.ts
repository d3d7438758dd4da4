/** Version of this SDK, sent as `device.sdk.version`. */
export const SDK_VERSION = '0.1.0';
