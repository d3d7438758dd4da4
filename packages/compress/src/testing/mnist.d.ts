// Types for the `mnist` package (10,000 labelled 28×28 digits; ships none of its own).
declare module 'mnist' {
  interface MnistDigit {
    id: number;
    /** Number of samples of this digit. */
    length: number;
    /** One sample: 784 pixel intensities in [0, 1], row-major. */
    get(index: number): number[];
  }
  const mnist: readonly MnistDigit[];
  export default mnist;
}
