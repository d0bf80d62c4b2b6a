namespace Driver.Hw.Interfaces;

/// <summary>
/// Interrupts as the kernel receives them (request_irq and free_irq). A device raises its line
/// (the IOMMU's MSI when an event is logged with EventIntEn set); the handler runs on the kernel
/// thread once the hardware access during which the device raised it has returned, never inside
/// a device model.
/// </summary>
public interface IInterruptController
{
    /// <summary>Installs <paramref name="handler"/> on line <paramref name="irq"/>; false when the line already has one (EBUSY).</summary>
    bool RequestIrq(int irq, Action handler);

    /// <summary>Removes the handler of line <paramref name="irq"/>.</summary>
    void FreeIrq(int irq);
}
